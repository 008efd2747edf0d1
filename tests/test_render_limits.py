"""Rendering runs in a child process with a time and a memory limit (issue 8).

Misbehaving renderers are stand-ins from `tests/sandbox_targets.py` (the child imports
them by name), so timeouts and memory exhaustion are deterministic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

import reporting.report.pdf as pdf_module
import reporting.report.sandbox as sandbox
from reporting.cli import main
from reporting.collector import YOUNG_GENERATION
from reporting.config import load_config
from reporting.errors import Diagnostic, InputError, ResourceLimitError
from reporting.report.html import AttachmentInfo, RenderError
from reporting.report.sandbox import (
    RenderJob,
    RenderLimits,
    child_environment,
    render_isolated,
    start_render,
)

from .factory import ChainBuilder, Key, write_jsonl
from .test_pdf import small_model

TARGETS = "tests.sandbox_targets"
KEY = Key.from_seed("render-limits")


@pytest.fixture(scope="module")
def job(sample_report) -> RenderJob:
    attachment = ("inside.json", "application/json", "an attachment")
    return RenderJob(model=sample_report.model, html=True, pdf=True, attachments=(attachment,))


@pytest.fixture(scope="module")
def small_job(job: RenderJob) -> RenderJob:
    """`job` with a few rows of everything: the real layout, quickly."""
    return replace(job, model=small_model(job.model))


ATTACHMENT_DATA = (b"{}",)


def _children() -> list[int]:
    """Our live (or zombie) child processes, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if fields.get("PPid", "").strip() == str(os.getpid()):
            found.append(int(entry.name))
    return found


def _isolated(job: RenderJob, target: str, **limits: float) -> object:
    return render_isolated(
        job,
        RenderLimits(**limits),
        attachment_data=ATTACHMENT_DATA,
        target=f"{TARGETS}:{target}",
        preload=(),
    )


# -- the limits --------------------------------------------------------------------------


def test_a_render_past_its_time_is_killed_with_a_coded_error(job: RenderJob) -> None:
    before = set(_children())
    started = time.monotonic()
    with pytest.raises(ResourceLimitError) as caught:
        _isolated(job, "sleep_forever", timeout=1.5)
    elapsed = time.monotonic() - started
    assert caught.value.code == "RENDER_TIMEOUT"
    assert caught.value.exit_code == 2
    message = str(caught.value)
    assert "1.5 s limit" in message
    assert "--render-timeout" in message
    assert "render.timeout_seconds" in message
    assert 1.5 <= elapsed < 30
    assert set(_children()) <= before  # killed and reaped, not left sleeping


def test_a_render_past_its_memory_is_a_coded_error(job: RenderJob) -> None:
    with pytest.raises(ResourceLimitError) as caught:
        _isolated(job, "allocate_past_the_limit", memory_mb=300)
    assert caught.value.code == "RENDER_MEMORY"
    assert caught.value.exit_code == 2
    message = str(caught.value)
    assert "300 MB memory limit" in message
    assert "--render-memory" in message
    assert "render.memory_mb" in message


def test_a_child_killed_by_a_signal_is_reported_as_likely_memory(job: RenderJob) -> None:
    with pytest.raises(ResourceLimitError) as caught:
        _isolated(job, "abort")
    assert caught.value.code == "RENDER_MEMORY"
    assert "SIGABRT" in str(caught.value)


def test_the_real_renderer_under_a_tiny_memory_limit_fails_cleanly(job: RenderJob) -> None:
    # The renderer's libraries alone take more address space than this.
    with pytest.raises(ResourceLimitError) as caught:
        render_isolated(job, RenderLimits(memory_mb=256), attachment_data=ATTACHMENT_DATA)
    assert caught.value.code == "RENDER_MEMORY"


def test_render_errors_in_the_child_keep_their_code_and_exit_code(job: RenderJob) -> None:
    with pytest.raises(RenderError) as caught:
        _isolated(job, "refuse_a_resource")
    assert caught.value.diagnostics() == [
        Diagnostic("RESOURCE_REFUSED", "the report tried to load 'file:///x'")
    ]
    assert caught.value.exit_code == 3


def test_a_crash_in_the_child_is_an_internal_render_error(job: RenderJob) -> None:
    with pytest.raises(RenderError) as caught:
        _isolated(job, "crash")
    assert caught.value.code == "RENDER_FAILED"
    assert caught.value.exit_code == 3
    assert "ZeroDivisionError: boom in the renderer" in str(caught.value)


def test_a_crash_near_the_memory_limit_is_a_memory_error(job: RenderJob) -> None:
    # Native code that cannot allocate fails in its own ways (SystemError, exit 1, ...):
    # an error raised with the address space past 75% of the limit is the limit.
    with pytest.raises(ResourceLimitError) as caught:
        render_isolated(
            job,
            RenderLimits(memory_mb=256),
            target=f"{TARGETS}:crash_near_the_limit",
            preload=(),
        )
    assert caught.value.code == "RENDER_MEMORY"
    message = str(caught.value)
    assert "near its 256 MB memory limit" in message
    assert "ZeroDivisionError: boom in the renderer" in message


# -- the attachments arrive while the child works ---------------------------------------


def test_the_child_works_before_the_attachments_exist(
    job: RenderJob, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mark = tmp_path / "mark"
    monkeypatch.setenv("SANDBOX_TEST_MARK", str(mark))
    with start_render(
        job, RenderLimits(), target=f"{TARGETS}:announce_then_wait", preload=()
    ) as pending:
        deadline = time.monotonic() + 60
        while not mark.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mark.exists(), "the child waited for the attachments before starting"
        rendered = pending.finish([b"first", b"second"])
    assert rendered.html == b"first|second"


def test_the_renderer_lays_out_the_pdf_before_asking_for_the_attachments(
    small_job: RenderJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    real_lay_out = pdf_module.lay_out

    def lay_out(*args: object, **kwargs: object) -> object:
        order.append("layout")
        return real_lay_out(*args, **kwargs)

    def attachment_data() -> tuple[bytes, ...]:
        order.append("attachments")
        return ATTACHMENT_DATA

    monkeypatch.setattr(pdf_module, "lay_out", lay_out)
    rendered = sandbox.render_job(small_job, attachment_data)
    assert order == ["layout", "attachments"]
    assert rendered.pdf is not None
    assert rendered.pdf.startswith(b"%PDF-")


def test_attachments_other_than_announced_are_refused(small_job: RenderJob) -> None:
    with pytest.raises(RenderError) as caught:
        sandbox.render_job(small_job, lambda: (b"{}", b"an extra file"))
    assert caught.value.code == "ATTACHMENT_MISMATCH"
    assert "1 attachments announced, 2 received" in str(caught.value)


def test_leaving_a_render_unfinished_kills_the_child(job: RenderJob) -> None:
    before = set(_children())

    def fail_while_the_child_works() -> None:
        with start_render(job, RenderLimits(), target=f"{TARGETS}:sleep_forever", preload=()):
            assert set(_children()) - before, "no child was started"
            raise KeyError("building an export failed")

    with pytest.raises(KeyError):
        fail_while_the_child_works()
    assert set(_children()) <= before  # killed and reaped


def test_the_time_limit_counts_from_the_start(job: RenderJob) -> None:
    # The child waits for the attachments; they come after its time is up.
    with start_render(
        job, RenderLimits(timeout=1.0), target=f"{TARGETS}:wait_for_attachments", preload=()
    ) as pending:
        time.sleep(1.5)
        with pytest.raises(ResourceLimitError) as caught:
            pending.finish()
    assert caught.value.code == "RENDER_TIMEOUT"


# -- what the child gets and gives back -------------------------------------------------------


def test_the_child_has_no_secrets_a_memory_limit_and_a_clean_result_channel(
    job: RenderJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_EVIDENCE_KEY_PASSPHRASE", "correct horse")
    monkeypatch.setenv("SIGNING_PIN", "1234")  # not secret-looking: withheld because named
    monkeypatch.setenv("HARMLESS_SETTING", "kept")
    rendered = render_isolated(
        job,
        RenderLimits(memory_mb=3000),
        attachment_data=ATTACHMENT_DATA,
        secret_names=["SIGNING_PIN"],
        target=f"{TARGETS}:report_environment",
        preload=(),
    )
    assert rendered.pdf == b"%PDF-not-really\n\x00\xff"  # bytes intact, no stdout noise
    assert rendered.html is not None
    seen = json.loads(rendered.html)
    env = seen["environment"]
    assert "AGENT_EVIDENCE_KEY_PASSPHRASE" not in env
    assert "SIGNING_PIN" not in env
    assert env["HARMLESS_SETTING"] == "kept"
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    assert seen["rlimit_as"] == 3000 * 1024 * 1024
    assert seen["gc_threshold"][0] == YOUNG_GENERATION  # tuned for the layout's allocations
    assert seen["gc_frozen"] > 0
    assert seen["organisation"] == job.model.organisation
    assert seen["attachments"] == ["inside.json"]
    assert seen["attachment_data"] == ["{}"]  # the bytes sent after the job
    assert "correct horse" not in rendered.html.decode()


def test_child_environment_drops_secret_looking_variables() -> None:
    environ = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "AGENT_EVIDENCE_KEY_PASSPHRASE": "x",
        "DB_PASSWORD": "x",
        "GITHUB_TOKEN": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "OPENAI_API_KEY": "x",
        "MY_PIN": "x",
    }
    env = child_environment(environ, ["MY_PIN"])
    assert {k for k in env if k in environ} == {"PATH", "LANG"}
    assert env["MALLOC_ARENA_MAX"] == "2"


def test_sandboxed_rendering_gives_the_same_bytes_as_in_process(
    sample_artefacts, signed_sample_report
) -> None:
    """The shared signed report was laid out by the render child (another interpreter,
    another hash seed); laid out in this process, every artefact has the same bytes, and
    signing only appended to the PDF."""
    written = {p.name: p.read_bytes() for p in signed_sample_report.directory.iterdir()}
    assert [a.name.rsplit(".", 1)[-1] for a in sample_artefacts[:2]] == ["pdf", "html"]
    for artefact in sample_artefacts:
        if artefact.name.endswith(".pdf"):
            assert written[artefact.name].startswith(artefact.data)
            assert len(written[artefact.name]) > len(artefact.data)  # the signature
        else:
            assert written[artefact.name] == artefact.data, artefact.name


# -- the command line and the config file -----------------------------------------------------


@pytest.fixture(scope="module")
def small_input(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    directory = tmp_path_factory.mktemp("input")
    receipts = ChainBuilder(KEY, chain_id="chain_render").extend(4).receipts
    source = write_jsonl(directory / "receipts.jsonl", receipts)
    key = KEY.write_pem(directory / "key.pem")
    return [str(source), "--keys", str(key)]


def _files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


def test_report_stops_at_the_time_limit_and_writes_nothing(
    small_input: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(sandbox, "RENDER_TARGET", f"{TARGETS}:sleep_forever")
    out = tmp_path / "out"
    argv = ["report", *small_input, "--format", "pdf,json", "--out", str(out)]
    assert main([*argv, "--render-timeout", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "[RENDER_TIMEOUT]" in err
    assert "2 s limit" in err
    assert "--render-timeout" in err
    assert "Traceback" not in err
    assert _files_under(out) == []


def test_report_stops_at_the_memory_limit_and_writes_nothing(
    small_input: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # A renderer that needs more than the limit, whatever the real one's footprint.
    monkeypatch.setattr(sandbox, "RENDER_TARGET", f"{TARGETS}:allocate_past_the_limit")
    out = tmp_path / "out"
    argv = ["report", *small_input, "--format", "html,csv", "--out", str(out)]
    assert main([*argv, "--render-memory", "256", "--verbose"]) == 2
    err = capsys.readouterr().err
    assert "[RENDER_MEMORY]" in err
    assert "256 MB memory limit" in err
    assert "--render-memory" in err
    assert "Traceback" not in err
    assert _files_under(out) == []


def test_the_config_file_sets_the_limits_and_flags_win(
    small_input: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    seen: list[RenderLimits] = []

    def record(job: RenderJob, limits: RenderLimits, **kwargs: object) -> object:
        seen.append(limits)
        raise ResourceLimitError(Diagnostic("RENDER_TIMEOUT", "recorded"))

    monkeypatch.setattr("reporting.report.artefacts.start_render", record)
    source, _, key = small_input
    config = tmp_path / "report.yaml"
    config.write_text(
        "schema: agent-evidence/config/v1\n"
        f"sources: [{source}]\nkeys: {key}\n"
        "render: {timeout_seconds: 42.5, memory_mb: 1234}\n"
    )
    out = tmp_path / "out"
    base = ["report", "--config", str(config), "--format", "html", "--out", str(out)]
    assert main(base) == 2
    assert main([*base, "--render-timeout", "7", "--render-memory", "2048"]) == 2
    config.write_text(config.read_text().replace("render: {timeout_seconds: 42.5, ", "render: {"))
    assert main(base) == 2
    assert main(["report", *small_input, "--format", "html", "--out", str(out)]) == 2
    assert seen == [
        RenderLimits(timeout=42.5, memory_mb=1234),
        RenderLimits(timeout=7, memory_mb=2048),
        RenderLimits(timeout=900, memory_mb=1234),
        RenderLimits(timeout=900, memory_mb=4096),
    ]
    assert _files_under(out) == []


def test_exports_alone_never_start_a_renderer(
    small_input: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> object:
        raise AssertionError("no HTML or PDF was asked for")

    monkeypatch.setattr("reporting.report.artefacts.start_render", fail)
    out = tmp_path / "out"
    assert main(["report", *small_input, "--format", "json,csv,oscal", "--out", str(out)]) == 0
    assert {p.suffix for p in _files_under(out)} >= {".json", ".csv"}


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--render-timeout", "0"),
        ("--render-timeout", "-5"),
        ("--render-timeout", "nan"),
        ("--render-timeout", "inf"),
        ("--render-timeout", "soon"),
        ("--render-memory", "255"),
        ("--render-memory", "1.5"),
        ("--render-memory", str(2**20 + 1)),
    ],
)
def test_bad_limit_values_are_usage_errors(
    small_input: list[str], option: str, value: str, capsys
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["report", *small_input, option, value])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert option in err
    assert "Traceback" not in err


def test_demo_takes_the_limits() -> None:
    from reporting.cli import build_parser

    args = build_parser().parse_args(["demo", "--render-timeout", "60", "--render-memory", "999"])
    assert (args.render_timeout, args.render_memory) == (60.0, 999)


@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        ("{timeout_seconds: 0}", "render.timeout_seconds"),
        ("{timeout_seconds: 100000}", "render.timeout_seconds"),
        ("{timeout_seconds: soon}", "render.timeout_seconds"),
        ("{memory_mb: 100}", "render.memory_mb"),
        ("{memory_mb: 1.5}", "render.memory_mb"),
        ("{memory_mb: true}", "render.memory_mb"),
        ("{memory: 4096}", "render.memory"),
    ],
)
def test_bad_limits_in_the_config_name_their_line(
    tmp_path: Path, block: str, fragment: str
) -> None:
    config = tmp_path / "report.yaml"
    config.write_text(f"schema: agent-evidence/config/v1\nrender: {block}\n")
    with pytest.raises(InputError) as caught:
        load_config(config)
    diagnostics = caught.value.diagnostics()
    assert {(d.code, d.line) for d in diagnostics} == {("CONFIG", 2)}
    assert all(d.message.startswith(f"{fragment}:") for d in diagnostics)


def test_the_limits_in_the_config_load(tmp_path: Path) -> None:
    config = tmp_path / "report.yaml"
    config.write_text("schema: agent-evidence/config/v1\nrender: {timeout_seconds: 60}\n")
    loaded = load_config(config)
    assert (loaded.render_timeout, loaded.render_memory) == (60, None)


def test_glibc_failing_to_allocate_a_thread_is_the_memory_limit() -> None:
    """At the limit, a library starting a thread can make glibc abort with status 127
    ("cannot allocate memory for thread-local data"): that is RENDER_MEMORY (exit 2)."""
    from reporting.errors import ResourceLimitError
    from reporting.report.sandbox import _no_result

    error = _no_result(127, RenderLimits(memory_mb=256))
    assert isinstance(error, ResourceLimitError)
    assert error.code == "RENDER_MEMORY"
    assert "256 MB" in str(error)
    assert _no_result(1, RenderLimits(memory_mb=256)).code == "RENDER_FAILED"


def test_a_crash_whose_report_cannot_be_allocated_is_the_memory_limit(monkeypatch) -> None:
    """A library error at the limit, then no memory left to read /proc or write the
    reply (seen in CI): the child exits with the out-of-memory status, not status 1."""
    import io

    from reporting.report import sandbox

    def no_memory() -> int:
        raise MemoryError

    monkeypatch.setattr(sandbox, "_peak_mb", no_memory)
    stream = io.BytesIO()
    error = RuntimeError("failed to load glyph")
    assert sandbox._report_crash(stream, error) == sandbox._EXIT_OUT_OF_MEMORY
    assert stream.getvalue() == b""
    monkeypatch.setattr(sandbox, "_peak_mb", lambda: 100)
    assert sandbox._report_crash(stream, error) == 0
    assert b'"status":"crash"' in stream.getvalue()
    assert sandbox._report_crash(io.BytesIO(), MemoryError()) == sandbox._EXIT_OUT_OF_MEMORY


def test_the_render_child_does_not_import_the_analysis_stack() -> None:
    # pandas costs the child half a second at start-up and nothing in rendering needs it.
    modules = ", ".join(sandbox.RENDERER_MODULES)
    listing = "sorted(m for m in ('pandas', 'pyarrow') if m in sys.modules)"
    script = f"import sys, {modules}; print({listing})"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_laid_out_pdf_refuses_files_it_did_not_announce() -> None:
    announced = [AttachmentInfo("inside.json", "application/json", "what the appendix lists")]
    laid_out = pdf_module.lay_out("<p>report</p>", attachments=announced)
    renamed = pdf_module.Attachment(
        "other.json", "application/json", b"{}", announced[0].description
    )
    with pytest.raises(RenderError) as caught:
        pdf_module.finish_pdf(laid_out, [renamed])
    assert caught.value.code == "ATTACHMENT_MISMATCH"
    same = pdf_module.Attachment("inside.json", "application/json", b"{}", announced[0].description)
    assert pdf_module.finish_pdf(laid_out, [same]).startswith(b"%PDF-")
