"""Counts said in words, for every layer: thousands separators and the noun that agrees.

Below every stage (it imports nothing), so that `verify` says "1 chain" like the report
without loading the assessment's vocabulary.
"""

from __future__ import annotations

__all__ = ["count", "plural"]

# Plurals the rules in `plural` do not make: verbs, and nouns with a qualifier after them.
_IRREGULAR = {
    "is": "are",
    "was": "were",
    "has": "have",
    "does": "do",
    "kind of exception": "kinds of exception",
    "item of manual evidence": "items of manual evidence",
}


def plural(n: int, one: str, many: str | None = None) -> str:
    """The noun that agrees with `n`: `plural(1, "chain")` is "chain", else "chains"."""
    if n == 1:
        return one
    if many is not None:
        return many
    if one in _IRREGULAR:
        return _IRREGULAR[one]
    if one.endswith(("s", "x", "ch", "sh")):
        return one + "es"
    if one.endswith("y") and one[-2:-1] not in "aeiou":
        return one[:-1] + "ies"
    return one + "s"


def count(n: int, one: str, many: str | None = None) -> str:
    """`n` with thousands separators and its noun: "1 chain", "1,205 receipts"."""
    return f"{n:,} {plural(n, one, many)}"
