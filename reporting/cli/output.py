"""What the commands print: verification results, the report run, progress and stage times.

The only module (with `commands.py`) that writes to a terminal. Failures come before
everything else, so the first lines a reader sees are the ones that matter.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from reporting.receipts.document import (
    VERIFICATION_SCHEMA,
    verification_document,
    verified_something,
)
from reporting.receipts.results import (
    SOURCE_AGENT_RECEIPTS,
    ChainResult,
    Code,
    Problem,
    VerificationResult,
)
from reporting.words import count

from .history import history_lines

if TYPE_CHECKING:
    from reporting.pipeline import VerificationRun, WrittenReport

__all__ = [
    "VERIFY_JSON_SCHEMA",
    "Feedback",
    "print_report",
    "print_verification",
    "verification_json",
    "verified_something",
]

VERIFY_JSON_SCHEMA = VERIFICATION_SCHEMA  # the name this module has always exported


def _problem_line(problem: Problem) -> str:
    where = f" ({problem.origin})" if problem.origin else ""
    seq = f"seq {problem.sequence} " if problem.sequence is not None else ""
    rid = f"{problem.receipt_id} " if problem.receipt_id else ""
    return f"    {problem.code.value}: {seq}{rid}{problem.message}{where}"


def _warning_lines(warnings: Sequence[Problem]) -> list[str]:
    """One line per warning code: how many, and the first occurrence (all of them in --json)."""
    groups: dict[str, list[Problem]] = {}
    for problem in warnings:
        groups.setdefault(problem.code.value, []).append(problem)
    lines = []
    for code, problems in groups.items():
        first = _problem_line(problems[0]).strip().removeprefix(f"{code}: ")
        times = f" x{len(problems):,}, first:" if len(problems) > 1 else ":"
        lines.append(f"    warning {code}{times} {first}")
    return lines


def _signer(chain: ChainResult) -> str:
    """Who signed a chain: its issuer, or the recorder's trust-store name. A recorder
    trusted through a bare key file has no name; an untrusted one has none either."""
    if chain.source_kind == SOURCE_AGENT_RECEIPTS:
        return f"issuer {chain.issuer}"
    if chain.issuer is not None:
        return f"recorder {chain.issuer}"
    untrusted = any(p.code is Code.UNKNOWN_ISSUER_KEY for p in chain.failures)
    return "untrusted recorder" if untrusted else "unnamed recorder"


def _chain_headline(chain: ChainResult) -> str:
    figures = f"{count(chain.length, 'receipt')}, {chain.termination.value}, {_signer(chain)}"
    if chain.valid:
        return f"VALID   {chain.chain_id} ({figures})"
    first = chain.failures[0]
    sequence = chain.broken_at_sequence  # cited as the report cites it: chain seq N
    at = f"seq {sequence}" if sequence is not None else f"index {chain.broken_at}"
    return f"BROKEN  {chain.chain_id} at {at}: {first.code.value} ({figures})"


def _total_line(result: VerificationResult) -> str:
    broken = sum(1 for c in result.chains if not c.valid)
    warnings = sum(len(c.warnings) for c in result.chains)
    verdict = "FAILED" if not result.valid else "ALL VALID" if result.chains else "NO EVIDENCE"
    return (
        f"{verdict}: {count(len(result.chains), 'chain')} ({broken:,} broken), "
        f"{count(result.receipt_count, 'receipt')}, "
        f"{count(len(result.input_problems), 'input problem')}, "
        f"{count(warnings, 'warning')}"
    )


def print_verification(run: VerificationRun, out: TextIO, *, failures_only: bool = False) -> None:
    """Input problems, then broken chains with every failure, then (unless `failures_only`)
    the valid chains; warnings grouped per code; a total line last."""
    result = run.result
    for problem in result.input_problems:
        if failures_only and problem.severity.value != "failure":
            continue
        where = f" ({problem.origin})" if problem.origin else ""
        out.write(f"INPUT   {problem.code.value}: {problem.message}{where}\n")
    broken = [c for c in result.chains if not c.valid]
    valid = [] if failures_only else [c for c in result.chains if c.valid]
    for chain in [*broken, *valid]:
        out.write(_chain_headline(chain) + "\n")
        for problem in chain.failures:
            out.write(_problem_line(problem) + "\n")
        if not failures_only:
            for line in _warning_lines(chain.warnings):
                out.write(line + "\n")
    out.write(_total_line(result) + "\n")


def verification_json(run: VerificationRun) -> bytes:
    """The `--json` document of `verify`: the one the report exports too
    (`docs/schemas/verification.schema.json`)."""
    return verification_document(
        run.result, sources=run.source_listing(), trust_anchors=run.trust_anchors
    )


# -- the report run -------------------------------------------------------------------------


class Feedback:
    """Progress on a terminal (silent otherwise or with --quiet), naming the stage that is
    running; each stage's time (and memory) with --verbose."""

    def __init__(self, *, quiet: bool, verbose: bool) -> None:
        self.verbose = verbose
        self.live = not quiet and sys.stderr.isatty()
        self.count = 0
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Feedback:
        if self.live:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("reading sources", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def receipts(self, count: int) -> None:
        self.count += count
        if self._progress is not None:
            self._progress.update(self._task, description=f"verifying receipts: {self.count:,}")

    def stage(self, name: str, seconds: float) -> None:
        """Called when a stage ends: show the one that follows it."""
        if self._progress is not None:
            following = _NEXT_STAGE.get(name)
            if following is not None:
                self._progress.update(self._task, description=following)
        if self.verbose:
            memory = _resident_memory()
            where = f" ({memory / 1e9:.2f} GB resident)" if memory is not None else ""
            sys.stderr.write(f"agent-evidence: {name}: {seconds:.2f} s{where}\n")


_NEXT_STAGE = {
    "load mappings and keys": "reading sources",
    "read sources": "verifying receipts",
    "verify chains": "building the evidence",
    "build evidence": "assessing controls",
    "assess controls": "assessing each agent",
    "assess each agent": "building the report model",
    "build report model": "rendering the HTML and PDF (in a sandbox)",
    "render": "signing",
    "sign": "writing",
}


def _resident_memory() -> int | None:
    """This process's resident memory in bytes (Linux /proc), for the --verbose log."""
    from reporting.report.sandbox import process_status_kib

    resident = process_status_kib("VmRSS")
    return None if resident is None else resident * 1024


def print_report(written: WrittenReport, out: TextIO) -> None:

    model = written.model
    figures = model.figures
    out.write(f"{model.report_id} for {model.organisation}: {model.posture.value}.\n")
    out.write(f"    {model.posture_reason}\n")
    period = model.scope.period_since or "the beginning", model.scope.period_until or "now"
    ungrounded = figures.ungrounded_chains  # verified, failing the grounded-principal tier
    tiers = f", {ungrounded:,} verified but fail the grounded-principal tier" if ungrounded else ""
    out.write(
        f"period: {period[0]} to {period[1]}; {count(figures.receipts_in_scope, 'receipt')} "
        f"in scope, {figures.trusted_receipts:,} trusted; "
        f"{count(figures.chains, 'chain')}, {figures.broken_chains:,} failed verification{tiers}\n"
    )
    if figures.recorder_sessions or figures.egress_decisions:
        out.write(
            f"egress: {count(figures.egress_decisions, 'firewall decision')}, "
            f"{figures.trusted_egress_decisions:,} verified, {figures.egress_stopped:,} stopped "
            f"or changed, {figures.uncorrelated_egress:,} uncorrelated; "
            f"{count(figures.recorder_sessions, 'recorder session')}, "
            f"{figures.broken_recorder_sessions:,} broken\n"
        )
    from reporting.controls.vocabulary import ControlStatus  # the report's words (not on verify)

    for framework in model.frameworks:  # in the words the PDF uses: "Supported in part 3"
        counts = ", ".join(f"{ControlStatus(k).label} {v:,}" for k, v in framework.counts.items())
        out.write(f"{framework.id}: {counts}\n")
    for finding in model.findings[:10]:
        agents = f" ({', '.join(finding.agents)})" if 0 < len(finding.agents) <= 3 else ""
        out.write(f"    {finding.id} [{finding.severity.value}] {finding.title}{agents}\n")
    if len(model.findings) > 10:
        more = len(model.findings) - 10
        out.write(f"    ... {count(more, 'more finding')} in the report\n")
    for line in history_lines(model):
        out.write(line + "\n")
    if written.earlier is not None:
        out.write(
            f"an earlier report with this id was kept at {written.earlier}; "
            f"this run was written beside it\n"
        )
    for path, _ in written.files:
        out.write(f"written: {path}\n")
