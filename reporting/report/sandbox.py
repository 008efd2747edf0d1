"""Lay out the report in a child process with a wall-clock and a memory limit.

Charts, HTML and PDF layout handle untrusted text (agent names, targets, errors) with
large native libraries (matplotlib, Pango, cairo via WeasyPrint). One hostile input
must not hang or exhaust a scheduled job, so `render_isolated` runs that work in a
fresh interpreter (`python -P -m reporting.report.sandbox`, never a fork: the parent may
run a progress thread, and forking after threads can deadlock) and:

* kills it when `RenderLimits.timeout` seconds (wall clock, start-up included) pass:
  `RENDER_TIMEOUT`;
* caps its address space at `RenderLimits.memory_mb` (``RLIMIT_AS``, set by the child
  once the renderer's libraries are loaded and before it reads the job, so they count
  but cannot fail half-loaded): an allocation beyond it fails, `RENDER_MEMORY`; a child
  killed by a signal (a native library crashing or aborting when malloc fails, the OOM
  killer) is reported the same way, with the signal named;
* gives it an environment without secrets (no passphrase variable reaches it) and with
  one BLAS/OpenMP thread and two malloc arenas, so the address space reflects the work.

Both limit errors exit 2 (like any input or configuration problem: the fix is a smaller
input or a larger limit, and the message says which option raises it). Nothing is
written: the caller writes artefacts only after rendering succeeded.

Parent → child is pickles on stdin (the parent is trusted): the job first, then the
bytes of the files the PDF carries, which the parent builds while the child lays the
PDF out (`start_render`, `PendingRender.finish`). Child → parent is never unpickled:
one JSON header line and raw bytes on the child's original stdout (the child's fd 1 is
pointed at stderr, so nothing a library prints can corrupt it). The output is the same
as rendering in-process (`render_job`): the same bytes.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import os
import pickle
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from reporting.collector import tune_for_batch_work
from reporting.errors import Diagnostic, DiagnosticCode, EvidenceError, ResourceLimitError
from reporting.report.limits import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT,
    MAX_MEMORY_MB,
    MAX_RENDER_TIMEOUT,
    MIN_MEMORY_MB,
)
from reporting.report.model import ReportModel

__all__ = [
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT",
    "MAX_MEMORY_MB",
    "MAX_RENDER_TIMEOUT",
    "MIN_MEMORY_MB",
    "RENDERER_MODULES",
    "RENDER_TARGET",
    "AttachmentData",
    "PendingRender",
    "RenderJob",
    "RenderLimits",
    "Rendered",
    "child_environment",
    "process_status_kib",
    "render_isolated",
    "render_job",
    "start_render",
]

# Measured (README "Sizing"): the sample renders in 15-20 s with a peak address space of
# 0.7 GiB, a 100,000-receipt report (44 pages) in 25-35 s with 0.75 GiB.
NEAR_LIMIT = 0.75  # a crash with this share of the address space in use is a memory problem

# "module:function" the child runs on the job; tests point it at a misbehaving stand-in.
RENDER_TARGET = "reporting.report.sandbox:render_job"
# Imported before the memory limit applies (about 0.5 GiB of address space, 2 s of CPU).
RENDERER_MODULES = ("reporting.report.charts", "reporting.report.html", "reporting.report.pdf")

TIMEOUT_HINT = "--render-timeout SECONDS or render.timeout_seconds in the config file"
MEMORY_HINT = "--render-memory MB or render.memory_mb in the config file"

# Environment variables never handed to the child: whatever looks like a secret.
_SECRET_VARIABLE = re.compile(r"PASS|SECRET|TOKEN|CREDENTIAL|PRIVATE|API_?KEY", re.IGNORECASE)
_CHILD_SETTINGS = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
}


@dataclass(frozen=True)
class RenderLimits:
    """How long (wall clock, seconds) and how much address space (MiB) rendering may take."""

    timeout: float = DEFAULT_TIMEOUT
    memory_mb: int = DEFAULT_MEMORY_MB


@dataclass(frozen=True)
class RenderJob:
    """What the child needs: the model, which documents, and the files the PDF will
    carry as (name, media type, description). Their bytes come later (`AttachmentData`):
    the PDF is laid out while the parent builds them."""

    model: ReportModel
    html: bool
    pdf: bool
    attachments: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class Rendered:
    html: bytes | None
    pdf: bytes | None


# Waits for, then returns, the bytes of the job's attachments, in the job's order.
AttachmentData = Callable[[], Sequence[bytes]]


def _no_attachments() -> Sequence[bytes]:
    return ()


def render_job(job: RenderJob, attachment_data: AttachmentData = _no_attachments) -> Rendered:
    """Charts, then the HTML and/or the PDF: what the child runs (and the in-process path).

    The PDF is laid out before `attachment_data` is asked for its bytes.
    """
    from reporting.report.charts import render_charts
    from reporting.report.html import AttachmentInfo, RenderError, render_html
    from reporting.report.pdf import Attachment, finish_pdf, lay_out_pdf

    charts = render_charts(job.model)
    html = render_html(job.model, charts).encode("utf-8") if job.html else None
    pdf = None
    if job.pdf:
        laid_out = lay_out_pdf(job.model, charts, [AttachmentInfo(*a) for a in job.attachments])
        data = attachment_data()
        if len(data) != len(job.attachments):
            message = f"{len(job.attachments)} attachments announced, {len(data)} received"
            raise RenderError(Diagnostic(DiagnosticCode.ATTACHMENT_MISMATCH, message))
        attachments = [
            Attachment(name, media_type, content, description)
            for (name, media_type, description), content in zip(job.attachments, data, strict=True)
        ]
        pdf = finish_pdf(laid_out, attachments)
    return Rendered(html=html, pdf=pdf)


# -- parent ------------------------------------------------------------------------------


def child_environment(
    environ: Mapping[str, str], secret_names: Sequence[str] = ()
) -> dict[str, str]:
    """The parent's environment without secrets (and `secret_names`), plus thread caps."""
    drop = set(secret_names)
    env = {
        name: value
        for name, value in environ.items()
        if name not in drop and not _SECRET_VARIABLE.search(name)
    }
    env.update(_CHILD_SETTINGS)
    return env


def _limit_error(code: DiagnosticCode, message: str) -> ResourceLimitError:
    return ResourceLimitError(Diagnostic(code, message))


def _timeout_error(limits: RenderLimits) -> ResourceLimitError:
    return _limit_error(
        DiagnosticCode.RENDER_TIMEOUT,
        f"rendering the report took longer than its {limits.timeout:g} s limit and was "
        f"stopped; raise the limit with {TIMEOUT_HINT}",
    )


def _memory_error(how: str) -> ResourceLimitError:
    return _limit_error(
        DiagnosticCode.RENDER_MEMORY, f"rendering the report {how}; raise it with {MEMORY_HINT}"
    )


def _render_error(diagnostics: list[Diagnostic], exit_code: int = 3) -> EvidenceError:
    from reporting.report.html import RenderError

    error = RenderError(diagnostics)
    error.exit_code = exit_code
    return error


def _render_failed(message: str) -> EvidenceError:
    return _render_error([Diagnostic(DiagnosticCode.RENDER_FAILED, message)])


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _no_result(returncode: int, limits: RenderLimits) -> EvidenceError:
    if returncode == _EXIT_OUT_OF_MEMORY:
        return _memory_error(f"ran out of its {limits.memory_mb} MB memory limit")
    if returncode == _EXIT_TLS_OUT_OF_MEMORY:
        return _memory_error(
            f"could not allocate a thread's memory (exit status {returncode}), most likely on "
            f"reaching its {limits.memory_mb} MB memory limit"
        )
    if returncode < 0:  # a native library aborting on a failed malloc, or the OOM killer
        name = _signal_name(-returncode)
        return _memory_error(
            f"was killed by {name}, most likely on reaching its {limits.memory_mb} MB memory limit"
        )
    return _render_failed(
        f"the renderer exited with status {returncode} and no result (if a native library "
        f"reported a failed allocation above, raise the {limits.memory_mb} MB memory limit "
        f"with {MEMORY_HINT})"
    )


def _crash(error: str, peak_mb: object, limits: RenderLimits) -> EvidenceError:
    """An unexpected exception: a memory problem when the address space was near the limit
    (C code that cannot allocate fails in its own ways), otherwise an internal error."""
    if isinstance(peak_mb, int) and peak_mb >= NEAR_LIMIT * limits.memory_mb:
        return _memory_error(
            f"failed near its {limits.memory_mb} MB memory limit (peak {peak_mb} MB of "
            f"address space; {error})"
        )
    return _render_failed(f"the renderer failed: {error}")


def _parse(output: bytes, returncode: int, limits: RenderLimits) -> Rendered:
    """The child's header line and payload, or the error it reports."""
    header_line, newline, payload = output.partition(b"\n")
    try:
        header = json.loads(header_line) if newline else None
    except ValueError:
        header = None
    if not isinstance(header, dict):
        raise _no_result(returncode, limits)
    status = header.get("status")
    if status == "error":
        diagnostics = [Diagnostic(**item) for item in header["diagnostics"]]
        raise _render_error(diagnostics, int(header["exit_code"]))
    if status == "crash":
        raise _crash(str(header.get("error")), header.get("peak_mb"), limits)
    if status != "ok":
        raise _render_failed(f"the renderer replied {status!r}")
    sizes: dict[str, int] = header["sizes"]
    if sum(sizes.values()) != len(payload):
        raise _render_failed("the renderer's output is truncated")
    parts: dict[str, bytes | None] = {"html": None, "pdf": None}
    offset = 0
    for name in ("html", "pdf"):
        if name in sizes:
            parts[name] = payload[offset : offset + sizes[name]]
            offset += sizes[name]
    return Rendered(html=parts["html"], pdf=parts["pdf"])


def render_isolated(
    job: RenderJob,
    limits: RenderLimits,
    *,
    attachment_data: Sequence[bytes] = (),
    secret_names: Sequence[str] = (),
    target: str | None = None,
    preload: Sequence[str] | None = None,
) -> Rendered:
    """Run `render_job` (or `target`) on `job` in a limited child, its attachments'
    bytes at hand (see `start_render`)."""
    with start_render(
        job, limits, secret_names=secret_names, target=target, preload=preload
    ) as pending:
        return pending.finish(attachment_data)


def start_render(
    job: RenderJob,
    limits: RenderLimits,
    *,
    secret_names: Sequence[str] = (),
    target: str | None = None,
    preload: Sequence[str] | None = None,
) -> PendingRender:
    """Start `render_job` (or `target`, "module:function") on `job` in a limited child;
    `PendingRender.finish` hands it the attachments' bytes and waits for the result.

    The child imports `preload` (default: the renderer's modules, for `render_job`) and
    the target before the memory limit applies, so the limit meets the work, not a
    half-loaded library. `finish` raises `ResourceLimitError` (`RENDER_TIMEOUT`,
    `RENDER_MEMORY`, exit 2) when a limit is hit, and `RenderError` when rendering fails
    otherwise. The timeout counts from the start. `secret_names` are environment
    variables withheld from the child besides the secret-looking ones. Use it as a
    context manager: leaving it unfinished (an error while building the attachments)
    kills the child.
    """
    header = {
        "target": target or RENDER_TARGET,
        "preload": list(RENDERER_MODULES if preload is None else preload),
        "memory_mb": limits.memory_mb,
        "sys_path": list(sys.path),
    }
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "reporting.report.sandbox"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=child_environment(os.environ, secret_names),
        close_fds=True,
    )
    return PendingRender(process, header, job, limits)


class PendingRender:
    """A child laying out a job while the parent builds the attachments' bytes.

    Parent to child, on stdin: the header, the job, then (once `finish` has them) the
    attachments' bytes, each a pickle streamed into the pipe: the bytes (the
    verification results of a million receipts are tens of MB) are never copied into
    one request, nor read whole before being unpickled in the child.
    """

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        header: dict[str, Any],
        job: RenderJob,
        limits: RenderLimits,
    ) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        self._process = process
        self._limits = limits
        self._deadline = time.monotonic() + limits.timeout
        self._data: queue.Queue[Sequence[bytes] | None] = queue.Queue(maxsize=1)
        self._replies: list[bytes] = []
        stdout = process.stdout
        self._writer = threading.Thread(target=self._feed, args=(header, job), daemon=True)
        self._reader = threading.Thread(
            target=lambda: self._replies.append(stdout.read()), daemon=True
        )
        self._writer.start()
        self._reader.start()

    def __enter__(self) -> PendingRender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process.poll() is None:  # not finished, or interrupted: never leave it
            self._kill()

    def _kill(self) -> None:
        """Stop the child and the feeder (which may still be waiting for the bytes)."""
        self._process.kill()
        with contextlib.suppress(queue.Full):
            self._data.put_nowait(None)
        self._process.wait()

    def _feed(self, header: dict[str, Any], job: RenderJob) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        try:
            with stdin:
                pickle.dump(header, stdin, protocol=pickle.HIGHEST_PROTOCOL)
                pickle.dump(job, stdin, protocol=pickle.HIGHEST_PROTOCOL)
                stdin.flush()
                data = self._data.get()
                if data is not None:
                    pickle.dump(tuple(data), stdin, protocol=pickle.HIGHEST_PROTOCOL)
        except OSError:
            pass  # the child stopped reading (it died): its exit status says why

    def finish(self, attachment_data: Sequence[bytes] = ()) -> Rendered:
        """Send the attachments' bytes, wait (within the timeout) and read the result."""
        left = self._deadline - time.monotonic()
        if left > 0:
            self._data.put_nowait(attachment_data)
            self._reader.join(left)
        if left <= 0 or self._reader.is_alive():
            self._kill()
            self._reader.join()
            self._writer.join()
            raise _timeout_error(self._limits)
        self._writer.join()
        self._process.wait()
        output = self._replies[0] if self._replies else b""
        return _parse(output, self._process.returncode, self._limits)


# -- child -------------------------------------------------------------------------------

_EXIT_OUT_OF_MEMORY = 75  # a MemoryError: said by the exit status, which needs no memory
# glibc's own exit when a new thread's local storage cannot be allocated ("cannot allocate
# memory for thread-local data: ABORT"): seen when a library starts a thread at the limit.
_EXIT_TLS_OUT_OF_MEMORY = 127


def _limit_memory(megabytes: int) -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX: only the time limit applies
        return
    limit = megabytes * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _warm_up() -> None:
    """Let native libraries that allocate on first use do so before the limit applies:
    OpenBLAS (under numpy, under matplotlib) exits with status 1, rather than failing
    the call, when its buffer cannot be allocated; a product too large for its
    small-matrix path makes it allocate the buffer now, and it keeps it."""
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        square = numpy.ones((256, 256))
        numpy.dot(square, square)


def _reply(stream: IO[bytes], header: dict[str, Any], *parts: bytes) -> None:
    stream.write(json.dumps(header, separators=(",", ":")).encode() + b"\n")
    for part in parts:
        stream.write(part)
    stream.flush()


def _run(stream: IO[bytes]) -> None:
    request = pickle.load(sys.stdin.buffer)  # noqa: S301 - written by our parent (the header)
    sys.path.extend(p for p in request["sys_path"] if p not in sys.path)
    for module in request["preload"]:
        importlib.import_module(module)
    _warm_up()
    module_name, _, name = request["target"].partition(":")
    target: Callable[[RenderJob, AttachmentData], Rendered] = getattr(
        importlib.import_module(module_name), name
    )
    _limit_memory(request["memory_mb"])
    job: RenderJob = pickle.load(sys.stdin.buffer)  # noqa: S301 - written by our parent
    tune_for_batch_work()

    def attachment_data() -> Sequence[bytes]:
        data: Sequence[bytes] = pickle.load(sys.stdin.buffer)  # noqa: S301 - our parent
        return data

    result = target(job, attachment_data)
    sizes: dict[str, int] = {}
    parts: list[bytes] = []
    for part, data in (("html", result.html), ("pdf", result.pdf)):
        if data is not None:
            sizes[part] = len(data)
            parts.append(data)
    _reply(stream, {"status": "ok", "sizes": sizes}, *parts)


def process_status_kib(field: str) -> int | None:
    """A kB figure of this process from /proc/self/status (`VmPeak`, `VmRSS`, `VmSize`);
    None where /proc has none (not Linux)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return None


def _peak_mb() -> int | None:
    """This process's peak address space (VmPeak), in MiB; None where /proc has none."""
    peak = process_status_kib("VmPeak")
    return None if peak is None else peak // 1024


def _out_of_memory(error: BaseException) -> bool:
    """A MemoryError, ENOMEM, or an error raised while handling or because of one."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MemoryError) or (
            isinstance(current, OSError) and current.errno == errno.ENOMEM
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def _child() -> int:
    stream = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, never into the result
    try:
        _run(stream)
    except EvidenceError as error:
        diagnostics = [vars(d) for d in error.diagnostics()]
        _reply(
            stream, {"status": "error", "exit_code": error.exit_code, "diagnostics": diagnostics}
        )
    except Exception as error:  # noqa: BLE001 - reported to the parent, never a bare traceback
        return _report_crash(stream, error)
    return 0


def _report_crash(stream: IO[bytes], error: Exception) -> int:
    """Tell the parent how rendering failed; the exit status when that is all there is room for.

    At the memory limit, even the reply (or reading the peak from /proc) can fail to
    allocate: that too is the limit, said by the exit status, which needs no memory.
    """
    if _out_of_memory(error):
        return _EXIT_OUT_OF_MEMORY
    try:
        if os.environ.get("AGENT_EVIDENCE_DEBUG"):
            traceback.print_exc()
        text = f"{type(error).__name__}: {error}"
        _reply(stream, {"status": "crash", "error": text, "peak_mb": _peak_mb()})
    except MemoryError:
        return _EXIT_OUT_OF_MEMORY
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(_child())
