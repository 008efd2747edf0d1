"""The rules every check follows, and the row selections they share.

Population: a check judges trusted receipts (authentic chains) only. Receipts whose chain
failed verification are left out and counted as `untrusted`: they are reported once, by
`chain_integrity` and as a scope limitation, and are never evidence either way. Checks of
the verification itself (`proven_by_verification`: a sequence gap, a broken delegation)
count the failures the verifier established wherever they occur; they still pass only on
trusted evidence.

`verdict`: any trusted row failing (or a proven failure anywhere) → FAIL; nothing
selected → NOT_APPLICABLE; only untrusted rows selected → INDETERMINATE (no trusted
evidence); otherwise PASS.
`detection` (detective checks): anomalies are exceptions to disposition, and the check
passes when it could run. `undecided` and `not_configured` are the INDETERMINATE verdicts
with their reason.
"""

from __future__ import annotations

import fnmatch
import heapq
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from reporting.controls.checks.registry import Hit, Status, Verdict
from reporting.controls.vocabulary import Reason
from reporting.evidence.frame import RISK_RANK

__all__ = [
    "GLOBS",
    "MAX_LISTED",
    "RISK",
    "SHARE",
    "at_least",
    "chain_verdict",
    "detection",
    "entry_for",
    "hits",
    "ids",
    "matches",
    "per_value",
    "present",
    "producer_timezone_errors",
    "share_verdict",
    "shortfall",
    "timezone_errors",
    "undecided",
    "verdict",
]

MAX_LISTED = 10_000  # failing ids kept per check; the count is always exact

RISK = {"enum": list(RISK_RANK), "default": "high"}
SHARE = {"type": "number", "minimum": 0, "maximum": 1}
GLOBS = {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}


def ids(values: pd.Series) -> tuple[str, ...]:
    """The first MAX_LISTED distinct values as text, sorted (without sorting them all:
    a check can fail on every one of a million receipts)."""
    return tuple(heapq.nsmallest(MAX_LISTED, [str(v) for v in values.dropna().unique().tolist()]))


def _codes(failing: pd.Series) -> pd.Series:
    """A failing mask, or per-row problem codes, as codes ("" = the check's own problem;
    None = not failing)."""
    if pd.api.types.is_bool_dtype(failing.dtype):
        return pd.Series(None, index=failing.index, dtype=object).mask(failing.astype(bool), "")
    return failing.astype(object).where(failing.notna(), None)


def hits(rows: pd.DataFrame, failing: pd.Series) -> tuple[Hit, ...]:
    """One `Hit` per problem among `rows`: `failing` is a mask over them, or problem codes."""
    marked = _codes(failing).reindex(rows.index)
    out = []
    for code in sorted(set(marked.dropna().tolist())):
        chosen = rows[marked == code]
        receipts = ids(chosen["receipt_id"]) if "receipt_id" in rows else ()
        out.append(Hit(str(code), len(chosen), receipts, ids(chosen["chain_id"].astype(str))))
    return tuple(out)


def _trusted_column(selection: pd.DataFrame) -> pd.Series:
    column = "trusted" if "trusted" in selection else "authentic"
    return selection[column].astype(bool)


def verdict(
    statement: str,
    selection: pd.DataFrame,
    failing: pd.Series,
    *,
    proven_by_verification: bool = False,
    **metrics: Any,
) -> Verdict:
    """The common rule over receipts or chains (see the module docstring).

    `failing` is a mask over `selection`, or per-row problem codes (None where fine).
    """
    trusted = _trusted_column(selection)
    population = selection[trusted]
    untrusted = int((~trusted).sum())
    judged = selection if proven_by_verification else population
    codes = _codes(failing).reindex(judged.index)
    failed = judged[codes.notna()]
    found = hits(judged, codes)
    if len(failed):
        status, reason = Status.FAIL, None
    elif population.empty:
        status = Status.INDETERMINATE if untrusted else Status.NOT_APPLICABLE
        reason = Reason.NO_TRUSTED_EVIDENCE if untrusted else None
    else:
        status, reason = Status.PASS, None
    return Verdict(
        status=status,
        statement=statement,
        population=len(population),
        failing=len(failed),
        untrusted=untrusted,
        metrics=metrics,
        failing_receipts=ids(failed["receipt_id"]) if "receipt_id" in failed else (),
        failing_chains=ids(failed["chain_id"].astype(str)),
        reason=reason,
        hits=found,
    )


def chain_verdict(
    statement: str,
    chains: pd.DataFrame,
    failing: pd.Series,
    *,
    proven_by_verification: bool = False,
    **metrics: Any,
) -> Verdict:
    """`verdict` over the chains frame: only authentic chains are judged."""
    return verdict(
        statement, chains, failing, proven_by_verification=proven_by_verification, **metrics
    )


def detection(
    statement: str, selection: pd.DataFrame, anomalous: pd.Series, **metrics: Any
) -> Verdict:
    """A detective check's verdict: the anomalies among trusted rows are exceptions to be
    dispositioned; the check passes when there was trusted evidence to run on."""
    found = verdict(statement, selection, anomalous, **metrics)
    if found.status is not Status.FAIL:
        return found
    return Verdict(
        status=Status.PASS,
        statement=statement,
        population=found.population,
        untrusted=found.untrusted,
        metrics=metrics,
        hits=found.hits,
        exceptions=found.failing,
    )


def undecided(
    statement: str,
    reason: Reason,
    *,
    population: int,
    untrusted: int = 0,
    found: tuple[Hit, ...] = (),
    **metrics: Any,
) -> Verdict:
    """INDETERMINATE for `reason`, with the receipts or chains that stood in the way."""
    return Verdict(
        status=Status.INDETERMINATE,
        statement=statement,
        population=population,
        untrusted=untrusted,
        metrics=metrics,
        reason=reason,
        hits=found,
    )


def shortfall(
    statement: str,
    selection: pd.DataFrame,
    lacking: pd.Series,
    reason: Reason,
    *,
    short: bool,
    **metrics: Any,
) -> Verdict:
    """For a property the protocol makes optional (a witness, a trusted timestamp, a terminal
    receipt): when too much of the trusted selection lacks it (`short`), the check cannot
    decide (INDETERMINATE for `reason`, listing what lacks it); otherwise it passes."""
    if not short:
        return verdict(statement, selection, pd.Series(False, index=selection.index), **metrics)
    trusted = _trusted_column(selection)
    population = selection[trusted]
    return undecided(
        statement,
        reason,
        population=len(population),
        untrusted=int((~trusted).sum()),
        found=hits(population, lacking.reindex(population.index)),
        **metrics,
    )


def share_verdict(
    statement: str,
    selection: pd.DataFrame,
    hits_mask: pd.Series,
    *,
    limit: float,
    at_most: bool,
) -> Verdict:
    """A rate over trusted rows compared with a threshold; the rows behind it are listed."""
    trusted = _trusted_column(selection)
    share = float(hits_mask[trusted].mean()) if bool(trusted.any()) else 0.0
    breached = (share > limit) if at_most else (share < limit)
    failing = hits_mask if breached else pd.Series(False, index=selection.index)
    return verdict(statement, selection, failing, share=round(share, 4), limit=limit)


def per_value(values: pd.Series, predicate: Callable[[str], bool]) -> pd.Series:
    """A predicate on each value's text, evaluated once per distinct value.

    The columns checks match on (action types, scopes) have few distinct values and
    many rows; a missing value is matched as the text 'nan', as `astype(str)` gives.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    table = np.fromiter((predicate(str(u)) for u in uniques), dtype=bool, count=len(uniques))
    return pd.Series(table[codes], index=values.index, dtype=bool)


def matches(action_types: pd.Series, patterns: Sequence[str]) -> pd.Series:
    return per_value(action_types, lambda t: any(fnmatch.fnmatchcase(t, p) for p in patterns))


def entry_for(issuers: pd.Series, entries: Sequence[Mapping[str, Any]]) -> pd.Series:
    """Per row, the position of the first deployment entry whose `issuer` glob matches its
    issuer (-1: none, or no issuer), looked up once per distinct issuer."""
    codes, uniques = pd.factorize(issuers)
    table = np.array(
        [
            next((i for i, e in enumerate(entries) if fnmatch.fnmatchcase(str(u), e["issuer"])), -1)
            for u in uniques
        ]
        + [-1],
        dtype=np.int64,
    )
    return pd.Series(table[codes], index=issuers.index)  # code -1 (missing) → the last: -1


def present(values: pd.Series) -> pd.Series:
    """Non-missing and non-empty text: an empty string is no grant, no id, no intent."""
    return values.notna() & (values.astype(str) != "")


def at_least(frame: pd.DataFrame, risk: str) -> pd.DataFrame:
    return frame[frame["risk_rank"].fillna(-1) >= RISK_RANK[risk]]


def timezone_errors(name: str) -> list[str]:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return [f"timezone: {name!r} is not an IANA time zone"]
    return []


def producer_timezone_errors(params: Mapping[str, Any]) -> list[str]:
    """The `timezone` of each `producers` entry must be an IANA zone (default UTC)."""
    return [
        problem
        for entry in params.get("producers", [])
        for problem in timezone_errors(entry.get("timezone", "UTC"))
    ]
