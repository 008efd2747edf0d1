"""Render the sample report and refresh the README's screenshots in docs/.

    .venv/bin/python scripts/screenshots.py

Writes docs/report-pdf-page1.png (the PDF's first page, pdftoppm at 60 dpi, about 500 px
wide) and docs/report-html.png (the HTML report in headless Chromium, 1280x900). Needs
pdftoppm (poppler-utils) and chromium. The PNGs are reduced to a 256-colour palette with
Pillow (a matplotlib dependency, so it is in the virtualenv) to stay well under 300 KB.
The sample report exits 1 by design (the samples carry deliberate integrity defects).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
DOCS = REPO / "docs"
PDF_PNG = DOCS / "report-pdf-page1.png"
HTML_PNG = DOCS / "report-html.png"
MAX_BYTES = 300_000
WINDOW = (1280, 900)
PDF_DPI = 60


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        sys.exit(f"screenshots: {name} not found")
    return found


def render_report(out: Path) -> tuple[Path, Path]:
    command = [
        _tool("agent-evidence"), "report", str(SAMPLES / "receipts.db"),
        "--keys", str(SAMPLES / "trust.yaml"),
        "--witness", str(SAMPLES / "witness.yaml"),
        "--grants", str(SAMPLES / "grants.yaml"),
        "--bodies", str(SAMPLES / "bodies"),
        "--period", "2026-10",
        "--organisation", "Example Corp",
        "--format", "pdf,html",
        "--out", str(out),
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    if run.returncode not in (0, 1):  # 1: the samples' deliberate defects were found
        sys.exit(f"screenshots: report exited {run.returncode}\n{run.stdout}{run.stderr}")
    pdfs, pages = sorted(out.rglob("*.pdf")), sorted(out.rglob("*.html"))
    if len(pdfs) != 1 or len(pages) != 1:
        sys.exit(f"screenshots: expected one PDF and one HTML under {out}: {pdfs + pages}")
    return pdfs[0], pages[0]


def pdf_page_one(pdf: Path, png: Path) -> None:
    prefix = png.with_suffix("")
    command = [_tool("pdftoppm"), "-r", str(PDF_DPI), "-f", "1", "-l", "1", "-singlefile"]
    subprocess.run([*command, "-png", str(pdf), str(prefix)], check=True)


def html_window(html: Path, png: Path, profile: Path) -> None:
    command = [
        _tool("chromium"),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--screenshot={png}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        html.as_uri(),
    ]
    subprocess.run(command, capture_output=True, text=True, timeout=180, check=True)


def optimise(png: Path) -> None:
    """A 256-colour palette: the pages are flat colours and text, so it looks the same."""
    try:
        from PIL import Image
    except ImportError:
        print(f"screenshots: Pillow not installed, {png.name} left as rendered")
        return
    with Image.open(png) as image:
        reduced = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        reduced.save(png, optimize=True)


def main() -> int:
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="agent-evidence-shots-") as tmp:
        work = Path(tmp)
        pdf, html = render_report(work / "out")
        rendered = [(work / PDF_PNG.name, PDF_PNG), (work / HTML_PNG.name, HTML_PNG)]
        pdf_page_one(pdf, rendered[0][0])
        html_window(html, rendered[1][0], work / "profile")
        for source, target in rendered:
            optimise(source)
            shutil.copyfile(source, target)
    for target in (PDF_PNG, HTML_PNG):
        size = target.stat().st_size
        print(f"{target.relative_to(REPO)}: {size // 1024} KB")
        if size > MAX_BYTES:
            print(f"screenshots: {target.name} is over {MAX_BYTES // 1000} KB", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
