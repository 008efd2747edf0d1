"""Machine-readable exports of a report: JSON, findings CSV, verification results, cited
receipts (JSON Lines) and OSCAL 1.1.2 assessment-results.

Every export is a pure function of its inputs and returns bytes: no wall clock, no
random identifiers (OSCAL UUIDs are uuid5 over the report id and a stable name), sorted
keys, so the same run gives byte-identical files. These are attached to the PDF and
written next to it; receipt text inside them is untrusted, so the CSV neutralises
spreadsheet formulas.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import pandas as pd

from reporting.controls.checks import REGISTRY
from reporting.controls.vocabulary import ControlStatus
from reporting.evidence.frame import Evidence
from reporting.report.model import (
    CheckFigure,
    ControlSection,
    Finding,
    FrameworkSection,
    ReceiptRef,
    ReportModel,
    utc_instant,
)

__all__ = [
    "FINDINGS_COLUMNS",
    "OSCAL_NS",
    "OSCAL_VERSION",
    "cited_receipts_jsonl",
    "findings_csv",
    "neutralise_cell",
    "oscal_assessment_results",
    "oscal_control_id",
    "report_json",
]

FINDINGS_COLUMNS = (
    "finding_id",
    "severity",
    "control_ids",
    "chain_id",
    "receipt_id",
    "receipt_hash",
    "timestamp",
    "action_type",
    "statement",
)
OSCAL_VERSION = "1.1.2"
OSCAL_NS = "https://agentreceipts.ai/ns/oscal"
# Leading characters a spreadsheet may read as a formula (ASCII and full-width forms).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_EPOCH = "1970-01-01T00:00:00Z"


# -- JSON helpers -------------------------------------------------------------------------


def _finite(value: Any) -> Any:
    """NaN and infinities are not JSON: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _dumps(value: Any) -> bytes:
    text = json.dumps(_finite(value), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def report_json(model: ReportModel) -> bytes:
    """The report model as UTF-8 JSON (its `schema` member included), sorted, 2-space indent."""
    return _dumps(model.to_json())


def cited_receipts_jsonl(cited: dict[str, bytes]) -> bytes:
    """The stored bytes of each cited receipt, one per line, sorted by receipt id.

    Bytes are kept exactly as stored, except that a receipt stored pretty-printed (its
    bytes contain a line break) is compacted with orjson so it fits on one line: that
    changes only whitespace and number spelling, never the parsed value, so its receipt
    hash (over the RFC 8785 form) is the same.
    """
    lines = [_one_line(cited[receipt_id]) for receipt_id in sorted(cited)]
    return b"".join(line + b"\n" for line in lines)


def _one_line(raw: bytes) -> bytes:
    if b"\n" not in raw and b"\r" not in raw:
        return raw
    return orjson.dumps(orjson.loads(raw))


# -- findings CSV -------------------------------------------------------------------------


def neutralise_cell(value: str) -> str:
    """Prefix `'` to text a spreadsheet would otherwise evaluate as a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return str(value.isoformat())
    return str(value)


def _receipt_columns(evidence: Evidence, ids: set[str]) -> dict[str, tuple[str, str, str, str]]:
    """receipt id → (chain id, receipt hash, timestamp, action type), first copy of each."""
    frame = evidence.receipts
    rows = frame.loc[frame["receipt_id"].isin(ids)].drop_duplicates("receipt_id")
    return {
        str(rid): (_text(chain), _text(digest), _text(stamp), _text(action))
        for rid, chain, digest, stamp, action in zip(
            rows["receipt_id"],
            rows["chain_id"],
            rows["receipt_hash"],
            rows["timestamp"],
            rows["action_type"],
            strict=True,
        )
    }


def _finding_rows(
    finding: Finding, lookup: dict[str, tuple[str, str, str, str]]
) -> Iterator[list[str]]:
    head = [finding.id, finding.severity.value, ";".join(finding.controls)]
    if finding.receipt_ids:
        for rid in finding.receipt_ids:
            chain, digest, stamp, action = lookup.get(rid, ("", "", "", ""))
            yield [*head, chain, rid, digest, stamp, action, finding.statement]
    elif finding.chains:
        for chain in finding.chains:
            yield [*head, chain, "", "", "", "", finding.statement]
    else:
        yield [*head, "", "", "", "", "", finding.statement]


def findings_csv(model: ReportModel, evidence: Evidence) -> bytes:
    """One row per finding (then exception) and affected receipt (every one), else per
    affected chain.

    Every field is quoted: with `\\n` line endings the csv module would leave a bare CR
    unquoted, and a CR in untrusted text must never start a new row.
    """
    listed = (*model.findings, *model.exceptions)  # exceptions (E-...) await a disposition
    ids = {rid for finding in listed for rid in finding.receipt_ids}
    lookup = _receipt_columns(evidence, ids)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(FINDINGS_COLUMNS)
    for finding in listed:
        for row in _finding_rows(finding, lookup):
            writer.writerow([neutralise_cell(cell) for cell in row])
    return buffer.getvalue().encode("utf-8")


# -- OSCAL assessment-results -------------------------------------------------------------


def oscal_control_id(framework_id: str, control_id: str) -> str:
    """An OSCAL token for a control: `eu-ai-act`, `Art.12(1)` → `eu-ai-act_art.12-1`."""
    tail = re.sub(r"[^a-z0-9._-]+", "-", control_id.lower()).strip("-._") or "control"
    head = re.sub(r"[^a-z0-9._-]+", "-", framework_id.lower()).strip("-._") or "framework"
    token = f"{head}_{tail}"
    return token if token[0].isalpha() else "c-" + token


def _utc(value: str | None) -> str | None:
    """An ISO timestamp → OSCAL date-time-with-timezone in UTC (`...Z`); naive means UTC."""
    moment = utc_instant(value)
    if moment is None:
        return None
    return moment.replace(tzinfo=None).isoformat() + "Z"  # four-digit years


class _Oscal:
    """Builds one assessment-results document; every identifier derives from the report id."""

    def __init__(self, model: ReportModel) -> None:
        self.model = model
        self.namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"agent-evidence:{model.report_id}")
        self.control_ids = self._control_ids()
        self.observations = self._observation_keys()
        self.holders = self._holders()
        self.raised = {key: self._raised_by(key, f) for key, f in self.observations.items()}

    def uid(self, name: str) -> str:
        """A stable UUID (v5) for `name` within this report."""
        return str(uuid.uuid5(self.namespace, name))

    # identifiers

    def _control_ids(self) -> dict[str, str]:
        """Each control ref → a unique OSCAL token (a hash suffix settles collisions)."""
        mapping: dict[str, str] = {}
        taken: set[str] = set()
        for framework in self.model.frameworks:
            for control in framework.controls:
                ref = f"{framework.id}:{control.id}"
                token = oscal_control_id(framework.id, control.id)
                if token in taken:
                    token = f"{token}-{uuid.uuid5(self.namespace, ref).hex[:8]}"
                taken.add(token)
                mapping[ref] = token
        return mapping

    def _observation_keys(self) -> dict[str, CheckFigure]:
        """One observation per distinct check run (check and parameters)."""
        figures: dict[str, CheckFigure] = {}
        for _, control in self._controls():
            for figure in control.checks:
                figures.setdefault(_figure_key(figure), figure)
        return dict(sorted(figures.items()))

    def _controls(self) -> Iterator[tuple[FrameworkSection, ControlSection]]:
        for framework in self.model.frameworks:
            for control in framework.controls:
                yield framework, control

    # times

    def period(self) -> tuple[str, str]:
        scope = self.model.scope
        firsts = sorted(t for c in self.model.integrity if (t := _utc(c.first_timestamp)))
        start = _utc(scope.period_since) or (firsts[0] if firsts else None) or self.as_of()
        end = _utc(scope.period_until) or self.as_of()
        later = datetime.fromisoformat(end) >= datetime.fromisoformat(start)
        return start, end if later else start

    def as_of(self) -> str:
        """The model's own time (latest receipt, else period end): never the wall clock."""
        scope = self.model.scope
        return _utc(self.model.as_of) or _utc(scope.period_until) or _EPOCH

    # documents

    def document(self) -> dict[str, Any]:
        return {
            "assessment-results": {
                "uuid": self.uid("assessment-results"),
                "metadata": self.metadata(),
                "import-ap": {"href": "#" + self.uid("assessment-plan")},
                "results": [self.result()],
                "back-matter": {"resources": self.resources()},
            }
        }

    def metadata(self) -> dict[str, Any]:
        model = self.model
        return {
            "title": f"Agent Evidence assessment results {model.report_id}: {model.organisation}",
            "last-modified": self.as_of(),
            "version": model.report_id or "unversioned",
            "oscal-version": OSCAL_VERSION,
            "props": _props(
                ("report-id", model.report_id),
                ("report-schema", model.schema),
                ("tool-version", model.tool_version),
                ("posture", model.posture.value),
            ),
        }

    def result(self) -> dict[str, Any]:
        start, end = self.period()
        result: dict[str, Any] = {
            "uuid": self.uid("result"),
            "title": f"Agent receipts assessment, {start} to {end}",
            "description": f"{self.model.posture.value}: {self.model.posture_reason}",
            "start": start,
            "end": end,
            "reviewed-controls": {"control-selections": self.selections()},
        }
        observations = [self.observation(k, f) for k, f in self.observations.items()]
        findings = self.findings()
        if observations:
            result["observations"] = observations
        if findings:
            result["findings"] = findings
        return result

    def selections(self) -> list[dict[str, Any]]:
        """Per framework, every control of the mapping: each gets a finding with its state."""
        selections = []
        for framework in self.model.frameworks:
            ids = [
                {"control-id": self.control_ids[f"{framework.id}:{c.id}"]}
                for c in framework.controls
            ]
            if ids:
                selections.append(
                    {
                        "description": f"{framework.title} ({framework.version})",
                        "include-controls": ids,
                    }
                )
        return selections or [{"description": "No control was assessed."}]

    # observations

    def observation(self, key: str, figure: CheckFigure) -> dict[str, Any]:
        subjects = self._subjects(figure)
        evidence = [
            {
                "href": "#" + self.uid(f"receipt/{ref.receipt_id}"),
                "description": f"Signed agent receipt {ref.receipt_id}.",
            }
            for ref in subjects
        ]
        summary = (
            f"{figure.population} trusted item(s) examined, {figure.failing} failing, "
            f"{figure.exceptions} exception(s) to disposition, {figure.untrusted} untrusted "
            f"left out; status {figure.status}"
            + (f" ({figure.reason})" if figure.reason else "")
            + "."
        )
        observation: dict[str, Any] = {
            "uuid": self.uid(f"observation/{key}"),
            "title": _check_title(figure.check),
            "description": f"{figure.statement}. {summary}",
            "props": _props(
                ("check", figure.check),
                ("check-status", figure.status),
                ("check-reason", figure.reason),
                ("exceptions", str(figure.exceptions) if figure.detective else None),
            ),
            "methods": ["TEST"],
            "relevant-evidence": [{"description": summary}, *evidence],
            "collected": self.as_of(),
        }
        if subjects:
            observation["subjects"] = [
                {"subject-uuid": self.uid(f"receipt/{ref.receipt_id}"), "type": "resource"}
                for ref in subjects
            ]
        return observation

    def _holders(self) -> dict[str, set[str]]:
        """Check run → the "<framework>:<control>" refs that use it."""
        holders: dict[str, set[str]] = {key: set() for key in self.observations}
        for framework, control in self._controls():
            for figure in control.checks:
                holders[_figure_key(figure)].add(f"{framework.id}:{control.id}")
        return holders

    def _raised_by(self, key: str, figure: CheckFigure) -> list[Finding]:
        """Model findings and exceptions this check run contributed to."""
        if figure.status != "FAIL" and not figure.exceptions:
            return []
        return [
            f
            for f in (*self.model.findings, *self.model.exceptions)
            if figure.check in f.checks
            and self.holders[key].intersection((*f.controls, *f.supporting))
        ]

    def _subjects(self, figure: CheckFigure) -> list[ReceiptRef]:
        """Checks that failed or found exceptions cite those receipts; others the samples."""
        key = _figure_key(figure)
        refs: dict[str, ReceiptRef] = {}
        if self.raised[key]:
            for finding in self.raised[key]:
                refs.update((r.receipt_id, r) for r in finding.receipts)
        else:
            for framework, control in self._controls():
                if f"{framework.id}:{control.id}" in self.holders[key]:
                    refs.update((r.receipt_id, r) for r in control.sample_evidence)
        return [refs[k] for k in sorted(refs)]

    # findings

    def findings(self) -> list[dict[str, Any]]:
        """One per control: its objective is `satisfied` only where the status is SATISFIED
        (never for SUPPORTED_IN_PART, INDETERMINATE or MANUAL), with the model findings and
        exceptions that concern it and the observations of its checks."""
        issues = (*self.model.findings, *self.model.exceptions)
        return [self.control_finding(f, c, issues) for f, c in self._controls()]

    def control_finding(
        self, framework: FrameworkSection, control: ControlSection, issues: tuple[Finding, ...]
    ) -> dict[str, Any]:
        ref = f"{framework.id}:{control.id}"
        status = ControlStatus(control.status)
        concerned = [f for f in issues if f.id in control.findings]
        lines = [f"{status.label}. {control.reason}".strip()]
        lines += [f"{f.id} ({f.kind}, {f.severity.value}): {f.title}." for f in concerned]
        if control.manual_evidence:
            lines.append("Manual evidence outstanding: " + "; ".join(control.manual_evidence) + ".")
        finding: dict[str, Any] = {
            "uuid": self.uid(f"control/{ref}"),
            "title": f"{control.id}: {control.title}",
            "description": " ".join(lines),
            "props": _props(
                ("assessment-status", status.value),
                *(("finding-id", f.id) for f in concerned),
                *(("finding-key", f.key) for f in concerned),
            ),
            "target": self._target(ref, status),
        }
        keys = sorted({_figure_key(f) for f in control.checks})
        if keys:
            finding["related-observations"] = [
                {"observation-uuid": self.uid(f"observation/{k}")} for k in keys
            ]
        return finding

    def _target(self, ref: str, status: ControlStatus) -> dict[str, Any]:
        framework_id, _, control_id = ref.partition(":")
        satisfied = status is ControlStatus.SATISFIED
        reason = {ControlStatus.SATISFIED: "pass", ControlStatus.NOT_SATISFIED: "fail"}
        return {
            "type": "objective-id",
            "target-id": self.control_ids[ref],
            "props": _props(("framework", framework_id), ("control-id", control_id)),
            "status": {
                "state": "satisfied" if satisfied else "not-satisfied",
                "reason": reason.get(status, "other"),
            },
        }

    # back-matter

    def resources(self) -> list[dict[str, Any]]:
        return [self.plan_resource(), *(self.receipt(r) for r in self.model.cited_receipts)]

    def plan_resource(self) -> dict[str, Any]:
        """The method stands in for an assessment plan: mappings, checks, trust anchors."""
        scope = self.model.scope
        mappings = ", ".join(f"{m.get('id')} {m.get('version')}" for m in scope.mappings)
        return {
            "uuid": self.uid("assessment-plan"),
            "title": f"Assessment method of report {self.model.report_id}",
            "description": (
                f"Automated checks over signed agent receipts by agent-evidence "
                f"{self.model.tool_version}; mappings: {mappings or 'none'}; "
                f"checks run: {', '.join(scope.checks_run) or 'none'}."
            ),
        }

    def receipt(self, ref: ReceiptRef) -> dict[str, Any]:
        rlink: dict[str, Any] = {"href": "#" + ref.receipt_id}
        digest = _sha256_hex(ref.receipt_hash)
        if digest:
            rlink["hashes"] = [{"algorithm": "SHA-256", "value": digest}]
        resource: dict[str, Any] = {
            "uuid": self.uid(f"receipt/{ref.receipt_id}"),
            "title": ref.receipt_id,
            "rlinks": [rlink],
        }
        props = _props(
            ("chain-id", ref.chain_id),
            ("sequence", None if ref.sequence is None else str(ref.sequence)),
            ("action-type", ref.action_type),
            ("timestamp", ref.timestamp),
            ("trusted", "true" if ref.trusted else "false"),
        )
        if props:
            resource["props"] = props
        return resource


def _figure_key(figure: CheckFigure) -> str:
    return figure.check + json.dumps(figure.params, sort_keys=True, default=str)


def _check_title(check: str) -> str:
    spec = REGISTRY.get(check)
    return spec.title if spec is not None else check


def _sha256_hex(receipt_hash: str | None) -> str | None:
    if not receipt_hash:
        return None
    algorithm, _, digest = receipt_hash.partition(":")
    if algorithm.lower() != "sha256" or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
        return None
    return digest.lower()


def _props(*pairs: tuple[str, str | None]) -> list[dict[str, str]]:
    """OSCAL props in our namespace; values must be non-blank with no edge whitespace."""
    out = []
    for name, value in pairs:
        text = " ".join(value.split()) if value else ""
        if text:
            out.append({"name": name, "ns": OSCAL_NS, "value": text})
    return out


def oscal_assessment_results(model: ReportModel) -> bytes:
    """OSCAL 1.1.2 assessment-results JSON for the report period; deterministic."""
    return _dumps(_Oscal(model).document())
