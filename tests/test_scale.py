"""At scale: a 100,000-receipt input still gives a PDF within the page bound."""

from __future__ import annotations

import base64
import io
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import verify_bench  # noqa: E402  (the benchmark's fast PyNaCl generator)

MAX_PAGES = 60


@pytest.mark.slow
def test_100k_receipts_render_within_the_page_bound(tmp_path: Path) -> None:
    import nacl.signing

    from reporting.pipeline import AssessRequest, VerifyRequest, run_report
    from reporting.report.artefacts import render_artefacts
    from reporting.report.build import ReportOptions

    key = nacl.signing.SigningKey(verify_bench.SEED)
    store = verify_bench._cached_store(100_000, 100, key)
    raw = base64.urlsafe_b64encode(bytes(key.verify_key)).rstrip(b"=").decode()
    trust = tmp_path / "trust.yaml"
    trust.write_text(
        f"version: 1\nissuers:\n  - issuer: did:agent:bench\n    keys:\n      - multibase: u{raw}\n"
    )
    run = run_report(
        AssessRequest(verify=VerifyRequest(sources=(str(store),), keys=trust)),
        ReportOptions("Scale"),
    )
    assert run.model.figures.receipts_in_scope == 100_000
    [pdf] = [a for a in render_artefacts(run, ["pdf"]) if a.name.endswith(".pdf")]
    pages = len(PdfReader(io.BytesIO(pdf.data)).pages)
    assert pages <= MAX_PAGES
