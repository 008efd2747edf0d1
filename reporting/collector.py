"""Garbage-collector settings for processes that do batch work (ours only: the CLI, the
verification workers and the render child; never set from library calls).

Verification and PDF layout allocate millions of small objects that live until their
stage ends (parsed receipts, results, layout boxes) and form few reference cycles.
CPython 3.11 collects its young generation every 700 net allocations, so it walks
those survivors again and again: measured, about a quarter of the layout's CPU and
5-10% of verification's. A larger young generation keeps cycle collection (memory
stays bounded) but runs it far less often, and freezing what exists once the process
is set up (modules, trust store, report model) keeps that out of every collection.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_GENERATION", "tune_for_batch_work"]

# Net allocations between young collections (CPython's default: 700); the older
# generations keep CPython's ratios of 10.
YOUNG_GENERATION = 20_000


def tune_for_batch_work() -> None:
    """Freeze the objects that exist now and collect the young generation less often."""
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION, 10, 10)
