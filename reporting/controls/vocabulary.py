"""The words of an assessment, defined once: statuses, severities and what each means.

Every output says the same thing with these words: the machine value (JSON, CSV, OSCAL
props, the CLI, `summary.json`) is the enum value; the word a reader sees in the PDF and
HTML is its `label`; `meaning` is the sentence that explains it. Templates, exports and
the CLI read them from here instead of keeping their own tables.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "CheckStatus",
    "ControlStatus",
    "Reason",
    "Severity",
    "action_words",
    "either",
    "risk_words",
]


class CheckStatus(StrEnum):
    """The verdict of one check over the evidence."""

    PASS = "PASS"  # noqa: S105 - a status, not a secret
    FAIL = "FAIL"
    INDETERMINATE = "INDETERMINATE"
    NOT_APPLICABLE = "NOT_APPLICABLE"

    @property
    def label(self) -> str:
        return _CHECK_LABELS[self]


_CHECK_LABELS = {
    CheckStatus.PASS: "Pass",
    CheckStatus.FAIL: "Fail",
    CheckStatus.INDETERMINATE: "Indeterminate",
    CheckStatus.NOT_APPLICABLE: "Not applicable",
}


class ControlStatus(StrEnum):
    """The status of a control (DESIGN.md, "Assessment"), in the order reports list them."""

    SATISFIED = "SATISFIED"
    SUPPORTED_IN_PART = "SUPPORTED_IN_PART"
    NOT_SATISFIED = "NOT_SATISFIED"
    INDETERMINATE = "INDETERMINATE"
    MANUAL = "MANUAL"

    @property
    def label(self) -> str:
        """The word the PDF and HTML print for this status."""
        return _CONTROL_WORDS[self][0]

    @property
    def meaning(self) -> str:
        """One sentence a reader of the report can rely on."""
        return _CONTROL_WORDS[self][1]


_CONTROL_WORDS = {
    ControlStatus.SATISFIED: (
        "Supported",
        "The evidence supports this requirement: every automated check that decides it "
        "passed on verified receipts, and the mapping lists no manual evidence.",
    ),
    ControlStatus.SUPPORTED_IN_PART: (
        "Supported in part",
        "Automated evidence supports this requirement, but the manual evidence listed is "
        "outstanding: the requirement is not supported until a person supplies it.",
    ),
    ControlStatus.NOT_SATISFIED: (
        "Not supported",
        "The evidence does not support this requirement: at least one check that decides "
        "it failed (see the findings).",
    ),
    ControlStatus.INDETERMINATE: (
        "Indeterminate",
        "The evidence neither supports nor contradicts this requirement: a check could not "
        "decide (not enough trustworthy evidence, or a deployment parameter not configured).",
    ),
    ControlStatus.MANUAL: (
        "Manual",
        "No automated check decides this requirement: the evidence must be supplied by a "
        "person; any checks shown are supporting information only.",
    ),
}


class Reason(StrEnum):
    """Why a check could not pass or fail: the code beside INDETERMINATE (or N/A)."""

    NOT_CONFIGURED = "not configured"
    NO_TRUSTED_EVIDENCE = "no trusted evidence"
    NO_HISTORY = "no history before the period"
    NOT_INSTRUMENTED = "not instrumented"
    OPEN_CHAINS = "chains still open"
    NOT_WITNESSED = "not witnessed"
    NOT_TIMESTAMPED = "no trusted timestamp"
    SHORT_HISTORY = "history shorter than required"
    NOT_EVIDENCED = "not evidenced in the period"
    NOTHING_IN_SCOPE = "nothing in scope"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)

    @property
    def label(self) -> str:
        return self.value.capitalize()


def risk_words(min_risk: str) -> str:
    """A risk threshold as a reader says it: "high" → "high or critical risk"."""
    return {
        "low": "any risk",
        "medium": "medium, high or critical risk",
        "high": "high or critical risk",
        "critical": "critical risk",
    }.get(str(min_risk), f"risk {min_risk} or above")


def action_words(patterns: list[str] | tuple[str, ...]) -> str:
    """Action type globs as a reader says them: ["*"] → "" (every type), else
    " of type financial.*, data.api.write" (with its leading space)."""
    chosen = [str(p) for p in patterns]
    return "" if chosen in (["*"], []) else " of type " + ", ".join(chosen)


def either(items: list[str] | tuple[str, ...]) -> str:
    """["a", "b", "c"] → "a, b or c"."""
    words = [str(i) for i in items]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
