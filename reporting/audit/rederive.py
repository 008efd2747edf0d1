"""Re-derive a report's results from its sources, to prove the report faithful to them.

The manifest records the whole run settings (`reporting.settings.settings_record`): the
period, the mappings and overrides, the chain selection, the limits, and every input file
(trust store, witness, grants, bodies, TSA roots) by name and SHA-256. The verifier
supplies the sources and those files; each file must have the recorded digest (a mismatch
or a missing file is a clear failure naming it), mappings are found by digest (shipped,
given, or beside the manifest), and the pipeline runs again with exactly the recorded
settings. The report id and the results digest must come out identical.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from reporting.audit.previous import replay_previous
from reporting.config import CheckOverride
from reporting.controls.loader import shipped_mapping_paths
from reporting.evidence.correlation import CorrelationRules
from reporting.periods import Period
from reporting.pipeline import run_report
from reporting.report.history import PreviousInput
from reporting.report.requests import EvidenceOwner
from reporting.settings import SETTINGS_SCHEMA, RunSettings, VerifyRequest, digest_path
from reporting.signing.manifest import results_digest

__all__ = ["RederiveError", "RederiveInputs", "rederive"]


class RederiveError(ValueError):
    """The recorded settings cannot be replayed with what was supplied (said why)."""


@dataclass(frozen=True)
class RederiveInputs:
    """What the verifier holds: the sources and the input files the manifest names."""

    sources: tuple[str, ...]
    keys: Path | tuple[Path, ...] | None = None  # in the order the report recorded them
    witness: Path | None = None
    grants: Path | None = None
    bodies: Path | None = None
    tsa_roots: tuple[Path, ...] = ()
    mappings: tuple[Path, ...] = ()  # mapping files that are not shipped
    previous: Path | None = None  # the previous report it was compared with
    dispositions: Path | None = None


def _instant(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _mapping_paths(entries: Sequence[Any], candidates: Iterable[Path]) -> tuple[str, ...]:
    """Each recorded mapping, found by content among the candidates."""
    by_digest = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in candidates if p.is_file()}
    paths = []
    for entry in entries:
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        path = by_digest.get(str(digest))
        if path is None:
            name = entry.get("id") if isinstance(entry, dict) else entry
            raise RederiveError(
                f"mapping {name} (sha256:{digest}) is not available: give the mapping file "
                "with --framework FILE or put it beside the manifest"
            )
        paths.append(str(path))
    return tuple(paths)


def _supplied(what: str, option: str, record: Any, given: Path | None) -> Path | None:
    """The supplied file for a recorded one, with the recorded digest; None if none recorded."""
    if record is None:
        if given is not None:
            raise RederiveError(f"the report was made without {what}; do not give {option}")
        return None
    if not isinstance(record, dict):
        raise RederiveError(f"the manifest's record of {what} is malformed")
    name, digest = record.get("name"), record.get("sha256")
    if given is None:
        raise RederiveError(
            f"the report was made with {what} {name!r} ({digest}); give it with {option}"
        )
    actual = digest_path(given)
    if actual != digest:
        raise RederiveError(
            f"{option} {given}: {actual} differs from the recorded {what} {name!r} ({digest})"
        )
    return given


def _supplied_all(what: str, option: str, records: Any, given: Sequence[Path]) -> tuple[Path, ...]:
    records = records or []
    if len(records) != len(given):
        raise RederiveError(
            f"the report was made with {len(records)} {what}; {len(given)} given with {option}"
        )
    paths = [_supplied(what, option, r, g) for r, g in zip(records, given, strict=True)]
    return tuple(p for p in paths if p is not None)


def _overrides(records: Any) -> tuple[CheckOverride, ...]:
    return tuple(
        CheckOverride(r["framework"], r["control"], r["check"], r["params"]) for r in records or []
    )


def replay_settings(record: dict[str, Any], inputs: RederiveInputs, directory: Path) -> RunSettings:
    """The run settings a manifest records, with the supplied files in place of its own."""
    if not isinstance(record, dict) or record.get("schema") != SETTINGS_SCHEMA:
        raise RederiveError(f"the manifest records no {SETTINGS_SCHEMA} settings")
    given = (inputs.keys,) if isinstance(inputs.keys, Path) else tuple(inputs.keys or ())
    keys = _supplied_all("trust stores", "--keys", record.get("keys"), given)
    limits = record.get("limits") or {}
    chains = record.get("chains")
    period = record.get("period") or {}
    candidates = [*shipped_mapping_paths(), *inputs.mappings, *directory.glob("*.yaml")]
    return RunSettings(
        verify=VerifyRequest(
            sources=inputs.sources,
            keys=keys,
            witness=_supplied("a witness file", "--witness", record.get("witness"), inputs.witness),
            grants=_supplied("a grants file", "--grants", record.get("grants"), inputs.grants),
            bodies=_supplied("response bodies", "--bodies", record.get("bodies"), inputs.bodies),
            tsa_roots=_supplied_all(
                "TSA root files", "--tsa-root", record.get("tsa_roots"), inputs.tsa_roots
            ),
            require_terminal=bool(record.get("require_terminal")),
            chains=frozenset(chains) if isinstance(chains, list) else None,
            max_receipt_bytes=int(limits["max_receipt_bytes"]),
            max_depth=int(limits["max_depth"]),
        ),
        frameworks=_mapping_paths(record.get("frameworks") or [], candidates),
        overrides=_overrides(record.get("overrides")),
        period=Period(_instant(period.get("since")), _instant(period.get("until"))),
        issuers=tuple(record.get("issuers") or ()),
        principals=tuple(record.get("principals") or ()),
        grant_refs=tuple(record.get("grant_refs") or ()),
        organisation=str(record.get("organisation")),
        previous=_previous(record.get("previous"), inputs.previous),
        dispositions=_supplied(
            "a dispositions file", "--dispositions", record.get("dispositions"), inputs.dispositions
        ),
        evidence_owners=tuple(
            EvidenceOwner(str(o["pattern"]), str(o["owner"]))
            for o in record.get("evidence_owners") or ()
        ),
        correlation=_correlation(record.get("correlation")),
    )


def _previous(record: Any, named: Path | None) -> PreviousInput:
    try:
        return replay_previous(record, named)
    except (OSError, ValueError) as exc:
        raise RederiveError(str(exc)) from exc


def _correlation(record: Any) -> CorrelationRules | None:
    if record is None:
        return None
    if not isinstance(record, dict):
        raise RederiveError("the manifest's record of the correlation rules is malformed")
    return CorrelationRules.from_json(record)


def rederive(inputs: RederiveInputs, manifest: dict[str, Any], directory: Path) -> str | None:
    """Run the recorded settings again; None when the report id and results digest match,
    else what differs."""
    try:
        settings = replay_settings(manifest.get("settings"), inputs, directory)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, RederiveError):
            raise
        raise RederiveError(f"the manifest's settings record is malformed ({exc})") from exc
    model = run_report(settings).model
    differences = []
    if model.report_id != manifest.get("report_id"):
        differences.append(
            f"the sources and settings give report id {model.report_id}, the manifest says "
            f"{manifest.get('report_id')} (a source differs from the one the report was made from)"
        )
    actual, expected = results_digest(model), manifest.get("results_digest")
    if actual != expected:
        differences.append(
            f"the sources give results digest {actual}, the manifest says {expected}"
        )
    return "; ".join(differences) or None
