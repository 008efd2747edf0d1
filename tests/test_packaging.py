"""The wheel carries the mappings, templates and protocol data the tool needs at run time."""

from __future__ import annotations

import re
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
    [wheel] = tmp_path.glob("agent_receipts_evidence-*.whl")
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


# -- the distribution name: a dependency-confusion trap closed ---------------------------------

# "agent-evidence" on the public index is an unrelated project with its own console script.
_BARE_INSTALL = re.compile(
    r"(pip|pipx|uv pip|poetry add|uv add)\s+(install\s+)?(-[-\w=]+\s+)*"
    r"""['"]?agent-evidence\b(?![-_/.])"""
)


def test_no_instruction_installs_the_unrelated_agent_evidence_from_an_index() -> None:
    root = Path(__file__).resolve().parents[1]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    offending = []
    for name in tracked:
        path = root / name
        if path.suffix in {".db", ".png", ".pem", ".p7s"} or not path.is_file():
            continue
        # an instruction may run on across comment lines: "...bin/pip\n# install ..."
        text = re.sub(r"\n\s*(#|//)?\s*", " ", path.read_text(errors="replace"))
        offending += [f"{name}: {m.group(0)}" for m in _BARE_INSTALL.finditer(text)]
    assert offending == []


def test_the_distribution_is_named_so_that_it_cannot_be_confused() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["name"] == "agent-receipts-evidence"
    assert project["scripts"]["agent-evidence"] == "reporting.cli:console"
