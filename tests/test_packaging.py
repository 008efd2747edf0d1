"""The wheel carries the mappings, templates and protocol data the tool needs at run time."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_ships_mappings_templates_and_protocol_data(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    [wheel] = tmp_path.glob("agent_evidence-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "reporting/mappings/eu-ai-act.yaml",
        "reporting/mappings/soc2.yaml",
        "reporting/mappings/owasp-asi-2026.yaml",
        "reporting/templates/report.html.j2",
        "reporting/templates/report.css",
        "reporting/data/mapping.schema.json",
        "reporting/data/protocol/agent-receipt.schema.json",
        "reporting/data/protocol/action-types.json",
        "reporting/py.typed",
        "reporting/signing/pades/signer.py",
        "reporting/report/pdf.py",
        "reporting/receipts/verify.py",
    }
    assert expected <= names
    modules = {str(p.relative_to(REPO)) for p in (REPO / "reporting").rglob("*.py")}
    assert modules <= names, f"modules missing from the wheel: {sorted(modules - names)}"
    assert any(n.startswith("reporting/templates/sections/") for n in names)
    assert not any(n.startswith(("tests/", "samples/")) for n in names)
