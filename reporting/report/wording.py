"""How the report says numbers, parameters and figures: as a reader writes them.

One place for the words every output shares: counts with thousands separators and the
noun that agrees with them ("1 chain", "1,205 receipts"), shares as percentages
("at most 5%"), working hours as "Mon-Fri 08:00-19:00 Europe/Berlin", and the ids of
crosswalk namespaces that are not frameworks (`threats: T8`) with their names. Check
parameters and figures are turned into short phrases here, never printed as Python or
JSON values. Pure functions of plain data: the HTML filters, the report model builder,
the command line and the exports all call them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reporting.controls.vocabulary import risk_words
from reporting.words import count, plural

__all__ = [
    "CROSSWALK_NAMESPACES",
    "UNIT_WORDS",
    "affected",
    "count",
    "crosswalk_note",
    "figure_phrases",
    "parameter_phrases",
    "percent",
    "plural",
    "setting_phrases",
    "weekdays",
    "working_hours",
]

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# A finding's unit → (one, many), as its count is said ("74 operating days").
UNIT_WORDS: Mapping[str, tuple[str, str]] = {
    "receipt": ("receipt", "receipts"),
    "chain": ("chain", "chains"),
    "input record": ("input record", "input records"),
    "day": ("operating day", "operating days"),
    "producer": ("producer", "producers"),
    "period": ("period", "periods"),
}


def affected(n: int, unit: str) -> str:
    """A finding's count in its unit: "2 chains", "308 receipts", "74 operating days"."""
    one, many = UNIT_WORDS.get(unit, (unit, unit + "s"))
    return count(n, one, many)


def percent(share: float) -> str:
    """A share as a reader writes it: 0.05 → "5%", 0.0172 → "1.72%", 0.0 → "0%"."""
    value = round(share * 100, 2)
    if value == 0 and share > 0:
        return "less than 0.01%"
    return f"{value:.2f}".rstrip("0").rstrip(".") + "%"


def weekdays(days: Iterable[int]) -> str:
    """ISO weekdays (1 = Monday) as "Mon-Fri", "every day", "Mon, Wed, Fri"."""
    chosen = sorted({int(d) for d in days if 1 <= int(d) <= 7})
    if chosen == list(range(1, 8)):
        return "every day"
    if not chosen:
        return "no day"
    runs: list[list[int]] = []
    for day in chosen:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        first, last = _DAY_NAMES[run[0] - 1], _DAY_NAMES[run[-1] - 1]
        parts.append(
            first if len(run) == 1 else f"{first}-{last}" if len(run) > 2 else f"{first}, {last}"
        )
    return ", ".join(parts)


def working_hours(entry: Mapping[str, Any]) -> str:
    """One producer's working hours: "Mon-Fri 08:00-19:00 Europe/Berlin", "around the clock"."""
    if entry.get("always"):
        return "around the clock"
    days = weekdays(entry.get("weekdays", ()))
    hours = f"{entry.get('start', '?')}-{entry.get('end', '?')}"
    return " ".join(part for part in (days, hours, str(entry.get("timezone", "UTC"))) if part)


# -- crosswalk namespaces that are not frameworks -------------------------------------------

_THREATS = {
    "T1": "Memory Poisoning",
    "T2": "Tool Misuse",
    "T3": "Privilege Compromise",
    "T4": "Resource Overload",
    "T5": "Cascading Hallucination Attacks",
    "T6": "Intent Breaking & Goal Manipulation",
    "T7": "Misaligned & Deceptive Behaviors",
    "T8": "Repudiation & Untraceability",
    "T9": "Identity Spoofing & Impersonation",
    "T10": "Overwhelming Human in the Loop",
    "T11": "Unexpected RCE and Code Attacks",
    "T12": "Agent Communication Poisoning",
    "T13": "Rogue Agents in Multi-Agent Systems",
    "T14": "Human Attacks on Multi-Agent Systems",
    "T15": "Human Manipulation",
    "T16": "Insecure Inter-Agent Protocol Abuse",
    "T17": "Supply Chain Compromise",
}
# namespace → (what it is, id → name)
CROSSWALK_NAMESPACES: Mapping[str, tuple[str, Mapping[str, str]]] = {
    "threats": ("OWASP Agentic AI - Threats and Mitigations (v1.1)", _THREATS),
}


def crosswalk_note(namespace: str, ids: Sequence[str]) -> str | None:
    """What a crosswalk to a namespace that is not a framework means, with each id's name:
    `threats: T8` → "OWASP Agentic AI - Threats and Mitigations (v1.1): T8 Repudiation &
    Untraceability". None for a namespace we do not know (a framework id)."""
    known = CROSSWALK_NAMESPACES.get(namespace)
    if known is None:
        return None
    title, names = known
    items = [f"{i} {names[i]}" if i in names else i for i in ids]
    return f"{title}: {', '.join(items)}"


# -- check parameters -------------------------------------------------------------------------


def _list(values: Any) -> str:
    if isinstance(values, str):
        return values
    if isinstance(values, Mapping):
        return "; ".join(f"{k}: {_value(v)}" for k, v in sorted(values.items()))
    items = [str(v) for v in values] if isinstance(values, Iterable) else [str(values)]
    return ", ".join(items) if items else "none"


def _actions(values: Sequence[str]) -> str:
    return "every action type" if list(values) == ["*"] else _list(values)


def _producer(entry: Mapping[str, Any], check: str) -> str:
    who = str(entry.get("issuer", "?"))
    if check == "working_hours":
        return f"{who}: {working_hours(entry)}"
    if check == "activity_continuity":
        return f"{who}: {weekdays(entry.get('weekdays', ()))} ({entry.get('timezone', 'UTC')})"
    kinds = [
        f"{kind} {_list(entry[kind])}"
        for kind in ("models", "tools", "targets", "executables")
        if kind in entry
    ]
    return f"{who}: " + ("; ".join(kinds) if kinds else "listed")


def _rule(rule: Mapping[str, Any]) -> str:
    actions = _list(rule.get("actions", ()))
    scopes = " or ".join(str(s) for s in rule.get("scopes", ()))
    return f"{actions} needs {scopes or 'a scope'}"


def _share_phrase(key: str, value: Any) -> str | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    if key.startswith("max_"):
        return f"at most {percent(float(value))}"
    if key.startswith("min_"):
        return "all" if value == 1 else f"at least {percent(float(value))}"
    return percent(float(value))


# name → how to say it; None leaves the parameter out (a default no reader needs).
_PARAMETER_WORDS: dict[str, Any] = {
    "min_risk": lambda v, _c: risk_words(v),
    "actions": lambda v, _c: f"actions: {_actions(v)}",
    "state_actions": lambda v, _c: f"state-changing actions: {_list(v)}",
    "exclude_actions": lambda v, _c: f"excluding {_list(v)}",
    "approval_actions": lambda v, _c: f"approvals: {_list(v)}",
    "approval_references": lambda v, _c: f"approval references: {_list(v)}" if v else None,
    "window_minutes": lambda v, _c: f"a single-use grant at most {count(int(v), 'minute')} before",
    "max_per_minute": lambda v, _c: f"at most {count(int(v), 'action')} a minute per agent",
    "min_months": lambda v, _c: f"{count(int(v), 'calendar month')} of logs",
    "conversational": lambda v, _c: f"conversational agents: {_list(v)}",
    "fields": lambda v, _c: f"fields: {_list(v)}",
    "open_chains": lambda v, _c: f"open by design: {_list(v)}" if v else None,
    "require_state_change": lambda v, _c: "state change required" if v else None,
    "require_response_hash": lambda v, _c: "response hash required" if v else None,
    "producers": lambda v, c: [_producer(e, c) for e in v],
    "rules": lambda v, _c: [_rule(r) for r in v],
}
_SHARE_SUBJECT = {
    "failure_rate": "failure rate",
    "unknown_action_share": "actions typed unknown",
    "witness_coverage": "chains witnessed",
    "trusted_timestamp_coverage": "actions with a trusted timestamp",
    "termination_status": "chains left open",
}
_SHARE_PARAMETERS = frozenset({"max_rate", "max_share", "min_share", "max_unknown_share"})


def parameter_phrases(check: str, params: Mapping[str, Any]) -> list[str]:
    """A check's parameters as a reader writes them, one phrase each (a list parameter of
    producers or rules gives one phrase per entry)."""
    out: list[str] = []
    for key, value in sorted(params.items()):
        if key in _SHARE_PARAMETERS:
            phrase = _share_phrase(key, value)
            subject = _SHARE_SUBJECT.get(check, "share")
            out.append(f"{subject}: {phrase}" if phrase else f"{key}: {_value(value)}")
            continue
        words = _PARAMETER_WORDS.get(key)
        said = words(value, check) if words else f"{key.replace('_', ' ')}: {_value(value)}"
        if isinstance(said, list):
            out.extend(said)
        elif said:
            out.append(said)
    return out


# -- check figures ------------------------------------------------------------------------------

_SHARE_FIGURES = {"share", "rate", "unknown_share", "limit"}
_FIGURE_NAMES = {
    "broken_chains": "broken chains",
    "input_problems": "unreadable input records",
    "grants_file": "grants file",
    "history_receipts": "receipts before the period",
    "busiest_minute": "most actions in one minute",
    "validity_from_registry": "validity from the grants registry",
    "not_yet_issued": "not yet issued",
}


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}"
    if value is None:
        return "none"
    if isinstance(value, Mapping):
        if not value:
            return "none"
        return "; ".join(
            f"{k}: {_value(v)}" for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
        )
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value) if value else "none"
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, sort_keys=True)


def _months(values: Sequence[str]) -> str:
    return f"{values[0]} to {values[-1]}" if len(values) > 2 else _value(list(values))


def figure_phrases(check: str, metrics: Mapping[str, Any]) -> list[str]:
    """A check's figures (metrics) as short phrases: "share 1.72%", "silent days: none"."""
    out = []
    for key, value in sorted(metrics.items()):
        name = _FIGURE_NAMES.get(key, key.replace("_", " "))
        if key in _SHARE_FIGURES and isinstance(value, int | float) and not isinstance(value, bool):
            out.append(f"{name} {percent(float(value))}")
        elif key == "months" and isinstance(value, list | tuple) and value:
            out.append(f"months {_months([str(v) for v in value])}")
        elif key == "grants_file":
            out.append("grants file given" if value else "no grants file")
        else:
            out.append(f"{name}: {_value(value)}")
    return out


# -- run settings ---------------------------------------------------------------------------


def _file(value: Mapping[str, Any]) -> str:
    return f"{value.get('name')} ({value.get('sha256')})"


def _override(override: Mapping[str, Any]) -> str:
    where = [
        f"{what} {override[key]}"
        for what, key in (("framework", "framework"), ("control", "control"))
        if override.get(key) not in (None, "*")
    ]
    place = ", ".join(where) or "every control using it"
    said = parameter_phrases(str(override.get("check")), override.get("params") or {})
    return f"{override.get('check')} ({place}): " + "; ".join(said)


def setting_phrases(key: str, value: Any) -> list[str]:
    """A run setting as the scope section says it: files by name and digest, check
    overrides (the deployment) in the words of their parameters, lists joined."""
    if key == "overrides" and isinstance(value, list):
        return [_override(o) for o in value if isinstance(o, Mapping)] or ["none"]
    if isinstance(value, Mapping) and {"name", "sha256"} <= set(value):
        return [_file(value)]
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, Mapping) and {"name", "sha256"} <= set(v) for v in value)
    ):
        return [_file(v) for v in value]
    if value is None:
        return ["—"]
    return [_value(value)]
