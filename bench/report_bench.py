"""End-to-end `report` at 10k, 100k and 1M receipts: wall time, peak memory, stage shares.

Each size runs the real CLI in a child process, exactly as a user would:

    python -m reporting report STORE --keys trust.yaml --period 2026-10 --verbose
        --format pdf,html,json,csv,oscal --sign-key K --sign-cert C --out DIR

on a synthetic store from bench/synthetic.py (generated once into .bench-cache/), signed
with an ECDSA P-256 key made by `agent-evidence keys init`. Measured per size:

* wall time of the child, from spawn to exit (includes interpreter start and imports);
* stage timings parsed from the CLI's --verbose lines (`agent-evidence: STAGE: 1.23 s`);
  "startup, exit" is the wall time not covered by any stage;
* memory, three ways (GB = 10^9 bytes):
  - peak tree RSS: the largest sum of RSS over the CLI and all its live descendants
    (verification pool workers), sampled every 0.1 s: what the machine had to supply,
    give or take shared copy-on-write pages (counted once per process) and spikes
    shorter than the interval. The 3 GB target is checked against this;
  - max process: the kernel's exact peak RSS of the largest single process in the tree
    (`os.wait4` rusage ru_maxrss, i.e. RUSAGE_CHILDREN of this one child);
  - upper bound: the CLI's peak plus every worker's peak (VmHWM), as if all peaked at once.

The 10k store is also verified in-process (`verify_spool`) and must have zero failures,
and every run's summary.json must show every receipt in scope and no broken chain: the
generated data is valid, so the timings are of the success path.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import synthetic

REPO = Path(__file__).resolve().parents[1]
FORMATS = "pdf,html,json,csv,oscal"
BASELINE = 10_000
STAGE_LINE = re.compile(
    r"^agent-evidence: (?P<stage>[^:]+): (?P<seconds>[0-9.]+) s"
    r"(?: \((?P<gb>[0-9.]+) GB resident\))?$"
)
REST = "startup, exit (rest)"
GB = 1e9
# receipts → (wall seconds, peak tree RSS bytes); the targets on 2-core machines
TARGETS = {10_000: (10.0, None), 1_000_000: (240.0, 3 * GB)}
LEGEND = """\
  us/rcpt: wall time per receipt, and its ratio to the baseline size (linear cost: 1.00x)
  cpu s: user + system time of the CLI and its workers (less noisy than wall time when
    the machine is shared)
  tree GB: peak sum of RSS of the CLI and its live workers (sampled every 0.1 s)
  max-proc: exact peak RSS of the largest single process (wait4 rusage)
  upper: the CLI's peak + every worker's peak, as if all peaked at once
  procs: processes seen (CLI + pool workers + render sandbox); GB = 10^9 bytes"""
SUPERLINEAR = 1.5  # per-receipt cost this many times the 10k one (and >= 1 s) is flagged


@dataclass
class Run:
    """One size's measurement."""

    receipts: int
    chains: int
    wall: float
    cpu: float  # user + system seconds of the CLI and every process it waited for
    stages: dict[str, float]
    max_process_rss: int
    peak_tree_rss: int
    rss_upper_bound: int
    processes: int
    summary: dict[str, object] = field(default_factory=dict)
    artefact_bytes: int = 0
    pdf_bytes: int = 0


class _MemorySampler(threading.Thread):
    """Polls the RSS of a process and its descendants until told to stop."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak_tree = 0
        self.hwm: dict[int, int] = {}  # pid → last seen VmHWM (peak RSS) in bytes
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def sample(self) -> None:
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
                self.hwm[process.pid] = max(self.hwm.get(process.pid, 0), _vm_hwm(process.pid))
            except (psutil.Error, OSError):
                continue
        self.peak_tree = max(self.peak_tree, total)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _vm_hwm(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _signing_key(directory: Path) -> tuple[Path, Path]:
    """A report-signing key and certificate made by the CLI itself (`keys init`)."""
    from reporting.signing.keys import CERT_FILE_NAME, KEY_FILE_NAME

    command = [sys.executable, "-m", "reporting", "keys", "init", "--out", str(directory)]
    subprocess.run(
        [*command, "--force", "--subject", "CN=Bench signer"], check=True, stdout=subprocess.DEVNULL
    )
    return directory / KEY_FILE_NAME, directory / CERT_FILE_NAME


def _assert_valid(dataset: synthetic.Dataset) -> None:
    """The generator's data verifies with zero failures (or the timings would mislead)."""
    from reporting.receipts.keys import load_trust
    from reporting.receipts.sources import spool_sources
    from reporting.receipts.verify import VerifyOptions, verify_spool

    options = VerifyOptions(trust=load_trust(dataset.trust))
    with spool_sources([str(dataset.store)]) as spool:
        result, _ = verify_spool(spool, options=options, workers=1)
    failures = [p for chain in result.chains for p in chain.failures]
    assert not failures, f"synthetic data has failures, first: {failures[0]}"
    assert not result.input_problems, result.input_problems[0]
    assert result.valid
    assert result.receipt_count == dataset.receipts
    print(
        f"verified the {synthetic.size_label(dataset.receipts)} store: "
        f"{len(result.chains)} chains, {result.receipt_count:,} receipts, 0 failures"
    )


def run_report(
    dataset: synthetic.Dataset, key: Path, cert: Path, out: Path, workers: int | None
) -> Run:
    """Run `report` in a child process and measure it."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    command = [
        sys.executable, "-m", "reporting", "report", str(dataset.store),
        "--keys", str(dataset.trust),
        "--period", "2026-10",
        "--format", FORMATS,
        "--organisation", "Bench Corp",
        "--sign-key", str(key), "--sign-cert", str(cert),
        "--out", str(out / "reports"),
        "--fail-on", "never",
        "--quiet", "--verbose",
    ]  # fmt: skip
    if workers:
        command += ["--workers", str(workers)]
    stdout_path, stderr_path = out / "stdout.txt", out / "stderr.txt"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=REPO)
        sampler = _MemorySampler(process.pid)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        sampler.stop()
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = stderr_path.read_text()
    if process.returncode != 0:
        sys.stderr.write(errors[-4000:])
        raise SystemExit(f"report on {dataset.store} exited {process.returncode}")
    stages: dict[str, float] = {}
    for line in errors.splitlines():
        match = STAGE_LINE.match(line.strip())
        if match:
            name = match["stage"]
            stages[name] = stages.get(name, 0.0) + float(match["seconds"])
    stages[REST] = max(0.0, wall - sum(stages.values()))
    cli_peak = sampler.hwm.get(process.pid, 0)
    worker_peaks = sum(v for pid, v in sampler.hwm.items() if pid != process.pid)
    [summary_path] = list((out / "reports").glob("*/*/summary.json"))
    summary = json.loads(summary_path.read_text())
    files = [p for p in summary_path.parent.iterdir() if p.is_file()]
    return Run(
        receipts=dataset.receipts,
        chains=dataset.chains,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        stages=stages,
        max_process_rss=usage.ru_maxrss * 1024,
        peak_tree_rss=sampler.peak_tree,
        rss_upper_bound=max(cli_peak, usage.ru_maxrss * 1024) + worker_peaks,
        processes=len(sampler.hwm),
        summary=summary,
        artefact_bytes=sum(p.stat().st_size for p in files),
        pdf_bytes=sum(p.stat().st_size for p in files if p.suffix == ".pdf"),
    )


def _check_summary(run: Run) -> None:
    figures = run.summary["figures"]
    assert isinstance(figures, dict)
    assert figures["receipts_in_scope"] == run.receipts, figures
    assert figures["trusted_receipts"] == run.receipts, figures
    assert figures["broken_chains"] == 0, figures


# -- printing -----------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def _target_text(run: Run) -> str:
    target = TARGETS.get(run.receipts)
    if target is None:
        return "-"
    seconds, memory = target
    parts = [f"<{seconds:.0f} s {_verdict(run.wall < seconds)}"]
    if memory is not None:
        parts.append(f"<{memory / GB:.0f} GB {_verdict(run.peak_tree_rss < memory)}")
    return ", ".join(parts)


def print_runs(runs: list[Run]) -> None:
    base = next((r for r in runs if r.receipts == BASELINE), runs[0])
    base_label = synthetic.size_label(base.receipts)
    print()
    print(f"end-to-end report: store -> signed PDF + HTML + exports ({FORMATS})")
    print(
        f"{'size':>5} {'receipts':>10} {'chains':>6} {'wall s':>8} {'cpu s':>7} {'us/rcpt':>8} "
        f"{'vs ' + base_label:>7} {'tree GB':>8} {'max-proc':>8} {'upper':>6} {'procs':>5}"
        f" {'PDF MB':>6}  target"
    )
    for run in runs:
        per = run.wall / run.receipts * 1e6
        ratio = per / (base.wall / base.receipts * 1e6)
        print(
            f"{synthetic.size_label(run.receipts):>5} {run.receipts:>10,} {run.chains:>6} "
            f"{run.wall:>8.1f} {run.cpu:>7.1f} {per:>8.0f} {ratio:>6.2f}x "
            f"{run.peak_tree_rss / GB:>8.2f} {run.max_process_rss / GB:>8.2f} "
            f"{run.rss_upper_bound / GB:>6.2f} {run.processes:>5} {run.pdf_bytes / 1e6:>6.1f}"
            f"  {_target_text(run)}"
        )
    print(LEGEND)
    print_stages(runs, base)


def print_stages(runs: list[Run], base: Run) -> None:
    names: list[str] = []
    for run in runs:
        names += [n for n in run.stages if n not in names and n != REST]
    names.append(REST)
    base_label = synthetic.size_label(base.receipts)
    print()
    print(f"stages: seconds, share of wall time, per-receipt cost vs {base_label}")
    header = "".join(f"{synthetic.size_label(r.receipts):>22}" for r in runs)
    print(f"{'stage':<28}{header}")
    flagged: list[str] = []
    for name in names:
        cells = []
        for run in runs:
            seconds = run.stages.get(name, 0.0)
            share = seconds / run.wall * 100
            base_seconds = base.stages.get(name, 0.0)
            if run is base or base_seconds <= 0:
                ratio_text = ""
            else:
                ratio = (seconds / run.receipts) / (base_seconds / base.receipts)
                ratio_text = f"x{ratio:.2f}"
                if ratio >= SUPERLINEAR and seconds >= 1.0 and name != REST:
                    flagged.append(f"{name} (x{ratio:.2f} at {synthetic.size_label(run.receipts)})")
            cells.append(f"{seconds:>8.2f} {share:>4.0f}% {ratio_text:>7}")
        print(f"{name:<28}" + "".join(f"{c:>22}" for c in cells))
    slowest = {synthetic.size_label(r.receipts): _slowest(r) for r in runs}
    print("slowest stage: " + "; ".join(f"{k}: {v}" for k, v in slowest.items()))
    if flagged:
        print(
            f"SUPER-LINEAR (per-receipt cost >= {SUPERLINEAR}x the {base_label} one): "
            + "; ".join(flagged)
        )
    else:
        print(f"no stage's per-receipt cost grew {SUPERLINEAR}x or more over {base_label}")


def _slowest(run: Run) -> str:
    name, seconds = max(
        ((n, s) for n, s in run.stages.items() if n != REST), key=lambda item: item[1]
    )
    return f"{name} {seconds / run.wall * 100:.0f}%"


def _machine() -> str:
    memory = psutil.virtual_memory().total / 2**30
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores, {memory:.0f} GiB, load average {load}; "
        f"Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="10k,100k,1M", help="comma-separated, e.g. 10k,100k,1M (default)"
    )
    parser.add_argument(
        "--workers", type=int, help="passed to `report --workers` (default: its own)"
    )
    parser.add_argument("--gen-workers", type=int, help="generator processes (default: all cores)")
    parser.add_argument("--keep", action="store_true", help="keep the reports in .bench-cache/")
    args = parser.parse_args()
    sizes = sorted({synthetic.parse_size(s) for s in args.sizes.split(",") if s.strip()})
    print(f"machine: {_machine()}")

    datasets = []
    for size in sorted({*sizes, BASELINE}):
        dataset = synthetic.cached_dataset(size, workers=args.gen_workers)
        how = "cached; generated" if dataset.cached else "generated"
        print(
            f"synthetic {synthetic.size_label(size):>4}: {dataset.receipts:>9,} receipts, "
            f"{dataset.chains:>4} chains ({how} in {dataset.seconds:.1f} s) {dataset.store}"
        )
        if dataset.phases:
            print("    " + ", ".join(f"{k} {v:.1f} s" for k, v in dataset.phases.items()))
        datasets.append(dataset)
    _assert_valid(next(d for d in datasets if d.receipts == BASELINE))

    work = synthetic.CACHE / "report-bench"
    key, cert = _signing_key(work / "signing")
    runs: list[Run] = []
    for dataset in (d for d in datasets if d.receipts in sizes):
        label = synthetic.size_label(dataset.receipts)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"running report on {label} (load average {load}) ...", flush=True)
        run = run_report(dataset, key, cert, work / label, args.workers)
        _check_summary(run)
        runs.append(run)
        print(
            f"  {run.wall:.1f} s, peak tree RSS {run.peak_tree_rss / GB:.2f} GB, "
            f"posture {run.summary['posture']}",
            flush=True,
        )
        if not args.keep:
            shutil.rmtree(work / label, ignore_errors=True)
    print_runs(runs)


if __name__ == "__main__":
    main()
