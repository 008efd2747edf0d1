"""The rules every check follows, and the row selections they share.

`verdict`: no receipt in scope → NOT_APPLICABLE; any trusted receipt failing → FAIL;
otherwise, if any receipt in the population is untrusted (its chain did not verify) →
INDETERMINATE, because unverified evidence never counts as passing; otherwise PASS.
`chain_verdict` is the same rule over chains.
"""

from __future__ import annotations

import fnmatch
import heapq
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from reporting.controls.checks.registry import Status, Verdict
from reporting.evidence.frame import RISK_RANK

__all__ = [
    "GLOBS",
    "MAX_LISTED",
    "RISK",
    "SHARE",
    "at_least",
    "chain_verdict",
    "ids",
    "matches",
    "per_value",
    "present",
    "share_verdict",
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


def verdict(
    statement: str,
    population: pd.DataFrame,
    failing: pd.Series,
    *,
    proven_by_verification: bool = False,
    **metrics: Any,
) -> Verdict:
    """The common rule: trusted failures fail; untrusted rows block a pass.

    A failure the verifier itself established (a gap, a broken delegation) needs no
    trusted row to prove it: `proven_by_verification` counts it wherever it occurs.
    """
    trusted = population["trusted"].astype(bool)
    failing_trusted = population[failing if proven_by_verification else failing & trusted]
    untrusted = int((~trusted).sum())
    if population.empty:
        status = Status.NOT_APPLICABLE
    elif not failing_trusted.empty:
        status = Status.FAIL
    elif untrusted:
        status = Status.INDETERMINATE
    else:
        status = Status.PASS
    return Verdict(
        status=status,
        statement=statement,
        population=len(population),
        failing=len(failing_trusted),
        untrusted=untrusted,
        metrics=metrics,
        failing_receipts=ids(failing_trusted["receipt_id"]),
        failing_chains=ids(failing_trusted["chain_id"].astype(str)),
    )


def chain_verdict(
    statement: str,
    chains: pd.DataFrame,
    failing: pd.Series,
    *,
    proven_by_verification: bool = False,
    **metrics: Any,
) -> Verdict:
    """`verdict` for checks over the chains frame: broken chains block a pass."""
    authentic = chains["authentic"].astype(bool)
    failed = chains[failing if proven_by_verification else failing & authentic]
    untrusted = int((~authentic).sum())
    if chains.empty:
        status = Status.NOT_APPLICABLE
    elif not failed.empty:
        status = Status.FAIL
    else:
        status = Status.INDETERMINATE if untrusted else Status.PASS
    return Verdict(
        status=status,
        statement=statement,
        population=len(chains),
        failing=len(failed),
        untrusted=untrusted,
        metrics=metrics,
        failing_chains=ids(failed["chain_id"]),
    )


def share_verdict(
    statement: str,
    population: pd.DataFrame,
    hits: pd.Series,
    *,
    limit: float,
    at_most: bool,
    fail_ids: pd.Series,
) -> Verdict:
    """A rate over trusted rows compared with a threshold; the rows behind it are listed."""
    trusted_mask = population["trusted"].astype(bool)
    share = float(hits[trusted_mask].mean()) if bool(trusted_mask.any()) else 0.0
    breached = (share > limit) if at_most else (share < limit)
    failing = fail_ids if breached else pd.Series(False, index=population.index)
    return verdict(statement, population, failing, share=round(share, 4), limit=limit)


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


def present(values: pd.Series) -> pd.Series:
    """Non-missing and non-empty text: an empty string is no grant, no id, no intent."""
    return values.notna() & (values.astype(str) != "")


def at_least(frame: pd.DataFrame, risk: str) -> pd.DataFrame:
    return frame[frame["risk_rank"].fillna(-1) >= RISK_RANK[risk]]
