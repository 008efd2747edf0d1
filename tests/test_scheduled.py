"""Unattended runs: --config, flags over the file, --fail-on exit codes, atomic output."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from reporting.cli import main
from reporting.pipeline import exit_status
from reporting.report.model import Posture

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
CONFIG = SAMPLES / "report.yaml"


def _run_dir(out: Path) -> Path:
    [directory] = [p for p in out.glob("*/AER-*") if p.is_dir()]
    return directory


def test_config_drives_a_run_and_writes_the_summary(tmp_path: Path, capsys) -> None:
    code = main(
        ["report", "--config", str(CONFIG), "--format", "json", "--out", str(tmp_path), "--json"]
    )
    assert code == 1  # fail_on: integrity, and the samples' chains are broken
    summary = json.loads(capsys.readouterr().out)
    directory = _run_dir(tmp_path)
    assert directory.parent.name == "2026-10"
    assert Path(summary.pop("directory")) == directory
    assert json.loads((directory / "summary.json").read_text()) == summary
    assert summary["posture"] == "INTEGRITY BROKEN"
    assert set(summary["frameworks"]) == {"eu-ai-act", "soc2", "owasp-asi-2026"}
    for entry in summary["artefacts"]:
        assert (directory / entry["name"]).is_file()


def test_flags_override_the_config(tmp_path: Path) -> None:
    code = main(
        [
            "report",
            "--config",
            str(CONFIG),
            "--format",
            "json",
            "--out",
            str(tmp_path),
            "--since",
            "2026-10-15",
            "--framework",
            "soc2",
            "--fail-on",
            "never",
        ]
    )
    assert code == 0
    directory = _run_dir(tmp_path)
    assert directory.parent.name == "20261015-now"
    summary = json.loads((directory / "summary.json").read_text())
    assert set(summary["frameworks"]) == {"soc2"}


def _frameworks(run, not_satisfied: int) -> list:
    """The run's frameworks, `not_satisfied` unsupported controls in the first."""
    frameworks = []
    for number, framework in enumerate(run.model.frameworks):
        assert "NOT_SATISFIED" in framework.counts  # the key the exit status reads
        counts = {**framework.counts, "NOT_SATISFIED": not_satisfied if number == 0 else 0}
        frameworks.append(replace(framework, counts=counts))
    return frameworks


# posture, unsupported controls -> exit status for --fail-on integrity, controls, never
FAIL_ON = [
    (Posture.INTEGRITY_BROKEN, 0, (1, 1, 0)),
    (Posture.INTEGRITY_BROKEN, 3, (1, 1, 0)),
    (Posture.NO_EVIDENCE, 0, (1, 1, 0)),
    (Posture.ATTENTION, 3, (0, 1, 0)),
    (Posture.ATTENTION, 0, (0, 0, 0)),
    (Posture.SUPPORTED, 0, (0, 0, 0)),
]


@pytest.mark.parametrize(("posture", "not_satisfied", "expected"), FAIL_ON)
def test_fail_on_maps_the_outcome_to_the_exit_status(
    sample_report, posture: Posture, not_satisfied: int, expected: tuple[int, int, int]
) -> None:
    frameworks = _frameworks(sample_report, not_satisfied)
    codes = tuple(
        exit_status(posture, frameworks, fail_on) for fail_on in ("integrity", "controls", "never")
    )
    assert codes == expected


def test_controls_fail_without_integrity_problems(tmp_path: Path, capsys) -> None:
    # one intact chain (no defects) still leaves controls unsupported in the samples
    args = [
        "report",
        str(SAMPLES / "receipts.db"),
        "--keys",
        str(SAMPLES / "trust.yaml"),
        "--chain",
        "2026-10-01",
        "--format",
        "json",
        "--out",
        str(tmp_path),
        "--json",
    ]
    assert main([*args, "--fail-on", "controls"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["posture"] == Posture.ATTENTION  # so --fail-on integrity passes it


def _config_elsewhere(directory: Path, text: str) -> Path:
    """The sample config copied out of samples/, its relative paths made absolute."""
    for name in ("receipts.db", "trust.yaml", "witness.yaml", "grants.yaml"):
        text = text.replace(f" {name}", f" {SAMPLES / name}")
    text = text.replace("bodies: bodies", f"bodies: {SAMPLES / 'bodies'}")
    path = directory / "report.yaml"
    path.write_text(text)
    return path


def test_an_override_that_matches_nothing_names_the_config_line(tmp_path: Path, capsys) -> None:
    text = CONFIG.read_text().replace("check: burst_detection", "check: unknown_action_share")
    text = text.replace("params: {max_per_minute: 20}", "params: {max_share: 0.5}")
    config = _config_elsewhere(tmp_path, text)
    out = tmp_path / "out"
    code = main(["report", "--config", str(config), "--format", "json", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{config}:" in err
    assert "unknown_action_share" in err
    assert not out.exists()


def test_missing_sources_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert main(["report", "--format", "json", "--out", str(tmp_path)]) == 2
    assert "--config" in capsys.readouterr().err


def test_a_failed_write_leaves_nothing_half_written(tmp_path: Path, monkeypatch) -> None:
    import reporting.report.writer as writer

    calls = {"n": 0}
    real = writer._fsync_write

    def flaky(path: Path, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(writer, "_fsync_write", flaky)
    code = main(["report", "--config", str(CONFIG), "--format", "json", "--out", str(tmp_path)])
    assert code == 2
    assert [p.name for p in (tmp_path / "2026-10").iterdir()] == []


def test_demo_runs_end_to_end_and_its_report_verifies(demo_report) -> None:
    pdf = Path(
        next(
            line.split(maxsplit=1)[1]
            for line in demo_report.stdout.splitlines()
            if line.startswith("PDF:")
        )
    )
    assert pdf == demo_report.pdf  # the one report of this run, in the directory it printed
    assert json.loads((pdf.parent / "summary.json").read_text())["posture"] == "INTEGRITY BROKEN"
    cert = pdf.parent / "signer-cert.pem"
    assert main(["verify-report", str(pdf), "--trust", str(cert)]) == 0
    assert main(["verify-report", str(pdf)]) == 1  # intact, but nobody vouches for a demo key
