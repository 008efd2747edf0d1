"""Against last period (issue 16): the next report finds the previous one in the output
directory (or is given it), verifies it, and compares posture, control statuses, findings
(by key) and key figures; a previous report that fails verification is refused, and the
report says why. The samples' ISO weeks 2026-W43 and 2026-W44 are the two periods."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from reporting.cli import main
from reporting.report.charts import render_charts
from reporting.report.exports import report_json
from reporting.report.history import (
    TREND_LENGTH,
    PreviousRefused,
    compare,
    previous_from_json,
)
from reporting.report.html import PDF_LIMITS, Medium, render_document, render_html
from reporting.report.model import Disposition, TrendPoint
from reporting.report.wording import affected

from .shared_reports import SAMPLE_SOURCES

SOURCES = list(SAMPLE_SOURCES)
JSON_ONLY = ["--format", "json", "--quiet", "--fail-on", "never"]


@dataclass(frozen=True)
class Run:
    directory: Path

    @property
    def report_id(self) -> str:
        return str(self.manifest["report_id"])

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.directory / "manifest.json").read_bytes())

    @property
    def manifest_sha256(self) -> str:
        return hashlib.sha256((self.directory / "manifest.json").read_bytes()).hexdigest()

    @property
    def model(self) -> dict[str, Any]:
        [path] = self.directory.glob(f"evidence-*-{self.report_id}.json")
        return json.loads(path.read_bytes())


def report(out: Path, period: str, *extra: str) -> Run:
    """`agent-evidence report` over the samples for `period` into `out`; its directory."""
    before = set(out.glob(f"{period}/*"))
    code = main(["report", *SOURCES, "--period", period, "--out", str(out), *JSON_ONLY, *extra])
    assert code == 0
    [directory] = set(out.glob(f"{period}/*")) - before
    return Run(directory)


@pytest.fixture(scope="module")
def weeks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Run]:
    """W43, then W44, into one output directory (demo-signed, JSON only): read-only."""
    out = tmp_path_factory.mktemp("weeks")
    return report(out, "2026-W43"), report(out, "2026-W44")


def _changes(model: dict[str, Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {"new": set(), "recurring": set(), "resolved": set()}
    for change in model["previous"]["findings"]:
        found[change["change"]].add(change["key"])
    return found


def _keys(model: dict[str, Any]) -> set[str]:
    return {f["key"] for f in (*model["findings"], *model["exceptions"])}


def _statuses(model: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(f["id"], c["id"]): c["status"] for f in model["frameworks"] for c in f["controls"]}


# -- two periods into one directory ----------------------------------------------------------


def test_the_first_report_says_it_has_no_previous(weeks) -> None:
    first = weeks[0]
    assert first.model["previous"]["status"] == "none"
    assert first.model["previous"]["code"] == "NO_PREVIOUS"
    assert first.model["previous"]["report_id"] is None
    assert first.manifest["settings"]["previous"] is None
    assert [p["period"] for p in first.model["trend"]] == ["2026-W43"]


def test_w44_is_compared_with_w43_from_the_same_directory(weeks) -> None:
    w43, w44 = weeks
    previous = w44.model["previous"]
    assert previous["status"] == "compared"
    assert previous["report_id"] == w43.report_id
    assert previous["manifest_sha256"] == w43.manifest_sha256
    assert previous["period"] == "2026-W43"
    assert previous["posture"] == w43.model["posture"]
    assert previous["demo"] is True  # both demo-signed: allowed, and said
    # the settings record names it: it changes the report, and --rederive replays it
    assert w44.manifest["settings"]["previous"] == {
        "report_id": w43.report_id,
        "manifest_sha256": w43.manifest_sha256,
    }


def test_a_demo_signed_previous_report_with_its_brief_is_compared(tmp_path) -> None:
    """The brief's signer is as untrusted as the PDF's and the manifest's: a demo-signed
    previous report that carries a brief is still built on, like one without it."""
    out = tmp_path / "out"
    w43 = report(out, "2026-W43", "--format", "json,pdf,brief")
    previous = report(out, "2026-W44").model["previous"]
    assert (previous["status"], previous["code"]) == ("compared", None)
    assert previous["report_id"] == w43.report_id


def test_findings_are_new_recurring_or_resolved_by_their_key(weeks) -> None:
    w43, w44 = weeks
    then, now = _keys(w43.model), _keys(w44.model)
    changes = _changes(w44.model)
    assert changes == {"new": now - then, "recurring": now & then, "resolved": then - now}
    assert changes["recurring"]
    assert changes["resolved"]
    ids = {f["key"]: f["id"] for f in (*w43.model["findings"], *w43.model["exceptions"])}
    for change in w44.model["previous"]["findings"]:
        assert change["previous_id"] == ids.get(change["key"])


def test_control_status_changes_are_every_control_that_differs(weeks) -> None:
    w43, w44 = weeks
    then, now = _statuses(w43.model), _statuses(w44.model)
    expected = {key for key in now if then.get(key) != now[key]}
    changes = w44.model["previous"]["controls"]
    assert {(c["framework"], c["control"]) for c in changes} == expected
    for change in changes:
        key = (change["framework"], change["control"])
        assert (change["then"], change["now"]) == (then[key], now[key])


def test_key_figures_then_and_now(weeks) -> None:
    w43, w44 = weeks
    figures = {f["figure"]: (f["then"], f["now"]) for f in w44.model["previous"]["figures"]}
    for name in ("receipts_in_scope", "broken_chains", "high_risk_actions"):
        assert figures[name] == (w43.model["figures"][name], w44.model["figures"][name])
    assert figures["findings"] == (len(w43.model["findings"]), len(w44.model["findings"]))
    # neither report has egress records or chains failing the grounded-principal tier
    assert not {"ungrounded_chains", "egress_decisions", "egress_stopped"} & set(figures)


def test_the_trend_carries_the_earlier_points(weeks) -> None:
    w43, w44 = weeks
    trend = w44.model["trend"]
    assert [(p["report_id"], p["period"]) for p in trend] == [
        (w43.report_id, "2026-W43"),
        (w44.report_id, "2026-W44"),
    ]
    assert trend[0] == w43.model["trend"][0]  # as the signed previous report recorded it
    assert trend[1]["posture"] == w44.model["posture"]
    counts = [c["counts"] for c in w44.model["frameworks"]]
    assert trend[1]["controls"]["MANUAL"] == sum(c["MANUAL"] for c in counts)


def test_a_rerun_of_the_same_period_compares_with_the_earlier_period(weeks, tmp_path) -> None:
    """A report of the same period is not an earlier one: the re-run gets the same id
    (and is written beside the first)."""
    w43, w44 = weeks
    out = tmp_path / "out"
    shutil.copytree(w43.directory.parent.parent, out)
    again = report(out, "2026-W44")
    assert again.model["previous"]["report_id"] == w43.report_id
    assert again.report_id == w44.report_id
    assert again.directory.name == f"{w44.report_id}-2"


@pytest.mark.parametrize(
    "other",
    [["--organisation", "Another Corp"], ["--framework", "soc2"], ["--issuer", "did:agent:*"]],
    ids=["organisation", "frameworks", "scope"],
)
def test_reports_of_another_series_are_not_compared(weeks, tmp_path, other) -> None:
    w43, _ = weeks
    out = tmp_path / "out"
    shutil.copytree(w43.directory.parent.parent, out)
    assert report(out, "2026-W44", *other).model["previous"]["status"] == "none"


# -- refused ---------------------------------------------------------------------------------


def _w43_copy(weeks, tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "out"
    shutil.copytree(weeks[0].directory.parent.parent, out)
    return out, next(out.glob("2026-W43/*"))


def _tamper_model(directory: Path) -> None:
    run = Run(directory)
    [path] = directory.glob(f"evidence-*-{run.report_id}.json")
    model = run.model
    model["posture"] = "SUPPORTED"
    model["findings"] = []
    path.write_text(json.dumps(model))


def test_a_tampered_previous_report_is_refused_and_the_report_says_why(weeks, tmp_path) -> None:
    out, w43 = _w43_copy(weeks, tmp_path)
    digest = hashlib.sha256((w43 / "manifest.json").read_bytes()).hexdigest()
    _tamper_model(w43)
    w44 = report(out, "2026-W44")
    previous = w44.model["previous"]
    assert (previous["status"], previous["code"]) == ("refused", "PREVIOUS_UNVERIFIED")
    assert previous["report_id"] == weeks[0].report_id
    assert "artefacts_match" in previous["reason"]
    assert previous["findings"] == previous["controls"] == []
    assert [p["period"] for p in w44.model["trend"]] == ["2026-W44"]
    assert w44.manifest["settings"]["previous"] == {
        "refused": "PREVIOUS_UNVERIFIED",
        "report_id": weeks[0].report_id,
        "manifest_sha256": digest,
    }
    assert w44.report_id != weeks[1].report_id  # what it was compared with is in the id


def test_a_re_hashed_manifest_fails_its_signature(weeks, tmp_path) -> None:
    """Tampering consistently (the model and its hash in the manifest) breaks the
    manifest's signature instead."""
    out, w43 = _w43_copy(weeks, tmp_path)
    _tamper_model(w43)
    manifest = json.loads((w43 / "manifest.json").read_bytes())
    for entry in manifest["artefacts"]:
        entry["sha256"] = hashlib.sha256((w43 / entry["name"]).read_bytes()).hexdigest()
        entry["size"] = (w43 / entry["name"]).stat().st_size
    (w43 / "manifest.json").write_text(json.dumps(manifest))
    previous = report(out, "2026-W44").model["previous"]
    assert previous["code"] == "PREVIOUS_UNVERIFIED"
    assert "manifest_signature" in previous["reason"]


def test_no_older_report_is_used_instead_of_a_tampered_one(weeks, tmp_path) -> None:
    out, w43 = _w43_copy(weeks, tmp_path)
    report(out, "2026-W42")  # an older, intact report of the same series
    _tamper_model(w43)
    previous = report(out, "2026-W44").model["previous"]
    assert (previous["code"], previous["report_id"]) == ("PREVIOUS_UNVERIFIED", weeks[0].report_id)


def test_a_file_slipped_in_beside_the_previous_report_refuses_it(weeks, tmp_path) -> None:
    out, w43 = _w43_copy(weeks, tmp_path)
    (w43 / "extra.json").write_text("{}")
    previous = report(out, "2026-W44").model["previous"]
    assert previous["code"] == "PREVIOUS_UNVERIFIED"
    assert "unlisted_files" in previous["reason"]


# -- signers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    keys = tmp_path_factory.mktemp("keys")
    assert main(["keys", "init", "--out", str(keys), "--subject", "CN=History signer"]) == 0
    return [
        "--sign-key",
        str(keys / "signing-key.pem"),
        "--sign-cert",
        str(keys / "signing-cert.pem"),
    ]


def test_a_report_signed_with_a_real_key_does_not_build_on_a_demo_signed_one(
    weeks, tmp_path, signer
) -> None:
    out, _ = _w43_copy(weeks, tmp_path)
    previous = report(out, "2026-W44", *signer).model["previous"]
    assert (previous["status"], previous["code"]) == ("refused", "PREVIOUS_UNTRUSTED")


def test_reports_signed_with_the_same_key_are_compared(tmp_path, signer) -> None:
    out = tmp_path / "out"
    w43 = report(out, "2026-W43", *signer)
    previous = report(out, "2026-W44", *signer).model["previous"]
    assert (previous["status"], previous["report_id"]) == ("compared", w43.report_id)
    assert previous["demo"] is False
    assert previous["signer"] == "CN=History signer"


def test_another_signer_needs_previous_trust(tmp_path, signer) -> None:
    out = tmp_path / "out"
    other = tmp_path / "other"
    assert main(["keys", "init", "--out", str(other), "--subject", "CN=Old signer"]) == 0
    old = [
        "--sign-key",
        str(other / "signing-key.pem"),
        "--sign-cert",
        str(other / "signing-cert.pem"),
    ]
    report(out, "2026-W43", *old)
    refused = report(out, "2026-W44", *signer).model["previous"]
    assert refused["code"] == "PREVIOUS_UNTRUSTED"
    trusted = ["--previous-trust", str(other / "signing-cert.pem")]
    assert report(out, "2026-W44", *signer, *trusted).model["previous"]["status"] == "compared"


# -- named with --previous -------------------------------------------------------------------


def test_a_previous_report_can_be_named(weeks, tmp_path) -> None:
    w43, _ = weeks
    named = report(tmp_path / "elsewhere", "2026-W44", "--previous", str(w43.directory))
    assert named.model["previous"]["report_id"] == w43.report_id


def test_a_named_report_of_a_later_period_is_not_comparable(weeks, tmp_path) -> None:
    _, w44 = weeks
    previous = report(tmp_path / "o", "2026-W43", "--previous", str(w44.directory)).model[
        "previous"
    ]
    assert (previous["status"], previous["code"]) == ("refused", "PREVIOUS_NOT_COMPARABLE")


def test_a_named_directory_without_a_report_is_a_usage_error(tmp_path, capsys) -> None:
    args = ["--period", "2026-W44", "--out", str(tmp_path / "o"), *JSON_ONLY]
    assert main(["report", *SOURCES, *args, "--previous", str(tmp_path)]) == 2
    assert "[NO_SUCH_REPORT]" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# -- re-deriving a report that was compared --------------------------------------------------


def _rederive(run: Run, *extra: str, capsys) -> tuple[int, str]:
    args = ["verify-report", str(run.directory), "--rederive", SOURCES[0], "--keys", SOURCES[2]]
    code = main([*args, *extra])
    out = capsys.readouterr().out
    return code, next(line for line in out.splitlines() if " rederive:" in line)


def test_rederive_replays_the_previous_report(weeks, capsys) -> None:
    w43, w44 = weeks
    code, line = _rederive(w44, "--previous", str(w43.directory), capsys=capsys)
    assert line.startswith("PASS")
    code, line = _rederive(w44, capsys=capsys)
    assert code == 1
    assert line.startswith("FAIL")
    assert "--previous" in line


def test_rederive_refuses_another_previous_report(weeks, tmp_path, capsys) -> None:
    _, w44 = weeks
    other = report(tmp_path / "o", "2026-W43", "--organisation", "Another Corp")
    code, line = _rederive(w44, "--previous", str(other.directory), capsys=capsys)
    assert code == 1
    assert line.startswith("FAIL")
    assert "differs from the recorded" in line


# -- the comparison itself -------------------------------------------------------------------


def test_the_trend_keeps_the_last_twelve_reports(sample_report) -> None:
    model = sample_report.model
    previous = previous_from_json(
        report_json(model), manifest_sha256="0" * 64, signer=None, demo=False
    )
    older = tuple(
        TrendPoint(f"AER-{i:016X}", f"2025-{i:02d}", None, None, "ATTENTION", {"MANUAL": i})
        for i in range(1, 13)
    )
    _, trend = compare(replace(model, report_id="AER-NOW"), replace(previous, trend=older))
    assert len(trend) == TREND_LENGTH
    assert trend[0].report_id == "AER-0000000000000002"  # the oldest dropped
    assert trend[-1].report_id == "AER-NOW"


def test_the_comparison_has_the_key_figures_words(sample_report) -> None:
    """Chains that verify but fail the grounded-principal tier and the egress figures are
    compared like the others, when either report has them."""
    model = sample_report.model
    previous = previous_from_json(
        report_json(model), manifest_sha256="0" * 64, signer=None, demo=False
    )
    now = replace(model.figures, ungrounded_chains=2, egress_decisions=701, egress_stopped=17)
    section, _ = compare(replace(model, figures=now), previous)
    figures = {f.figure: (f.then, f.now) for f in section.figures}
    then = model.figures
    assert figures["ungrounded_chains"] == (then.ungrounded_chains, 2)
    assert figures["egress_decisions"] == (then.egress_decisions, 701)
    assert figures["egress_stopped"] == (then.egress_stopped, 17)


def test_a_recurring_finding_says_its_count_then_in_its_unit(sample_report) -> None:
    model = sample_report.model
    previous = previous_from_json(
        report_json(model), manifest_sha256="0" * 64, signer=None, demo=False
    )
    section, trend = compare(model, previous)
    html = render_html(replace(model, previous=section, trend=trend), {})
    finding = next(f for f in model.findings if f.unit == "chain")
    start = html.index(f'<div class="finding" id="{finding.id}">')
    detail = html[start : html.index('<div class="finding"', start + 1)]
    assert f"{affected(finding.affected, 'chain')} affected)" in detail


def test_findings_listed_in_brief_keep_their_disposition_and_change(sample_report) -> None:
    """Past the detailed findings (25 in the PDF) a finding is a row: it still shows the
    team's disposition and whether it is new or recurring."""
    model = sample_report.model
    previous = previous_from_json(
        report_json(model), manifest_sha256="0" * 64, signer=None, demo=False
    )
    section, trend = compare(model, previous)
    second = model.findings[1]
    decided = Disposition(
        second.key, second.id, "Team", "risk accepted", None, None, None, None, None, False, False
    )
    model = replace(model, previous=section, trend=trend, dispositions=(decided,))
    limits = replace(PDF_LIMITS, finding_details=1)
    html = render_document(model, {}, Medium(pdf=True, limits=limits))
    start = html.index(f'<tr id="{second.id}">')
    row = html[start : html.index("</tr>", start)]
    assert 'class="badge d-risk-accepted"' in row
    assert 'class="badge c-recurring"' in row


def test_a_previous_report_model_is_read_strictly(sample_report) -> None:
    good = json.loads(report_json(sample_report.model))
    for broken in (
        b"not json",
        json.dumps({**good, "schema": "other"}).encode(),
        json.dumps({**good, "findings": [{"key": 1}]}).encode(),
        json.dumps({**good, "frameworks": "x"}).encode(),
        json.dumps({**good, "posture": None}).encode(),
    ):
        with pytest.raises(ValueError, match="report model"):
            previous_from_json(broken, manifest_sha256="0" * 64, signer=None, demo=False)


def test_a_refused_previous_report_leaves_the_trend_to_this_one(sample_report) -> None:
    section, trend = compare(sample_report.model, PreviousRefused("PREVIOUS_UNVERIFIED", "why"))
    assert (section.status, section.code, section.reason) == (
        "refused",
        "PREVIOUS_UNVERIFIED",
        "why",
    )
    assert [p.report_id for p in trend] == [sample_report.model.report_id]


def test_the_trend_chart_shows_each_period_and_posture(weeks, sample_report) -> None:
    from xml.etree import ElementTree as ET

    points = tuple(TrendPoint(**p) for p in weeks[1].model["trend"])
    svg = render_charts(replace(sample_report.model, trend=points))["trend"]
    texts = {t.text for t in ET.fromstring(svg).iter() if t.text}
    assert {"2026-W43", "2026-W44", "Supported", "Not supported"} <= texts
    assert weeks[1].model["posture"] in texts
    assert render_charts(replace(sample_report.model, trend=points))["trend"] == svg
