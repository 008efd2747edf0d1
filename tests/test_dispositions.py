"""Dispositions (issue 16): the team's decisions per finding, validated with located errors,
shown beside each finding, carried to the next period, overdue items first; never a change
to a result. And the manual-evidence request list with the owners the configuration names."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from reporting.cli import main
from reporting.config import load_config
from reporting.errors import InputError
from reporting.report.dispositions import DispositionEntry, apply_dispositions, load_dispositions
from reporting.report.html import render_html
from reporting.report.model import Disposition
from reporting.report.requests import EvidenceOwner, evidence_requests

from .shared_reports import SAMPLE_SOURCES
from .test_history import JSON_ONLY, Run, report

SOURCES = list(SAMPLE_SOURCES)
HEADER = "schema: agent-evidence/dispositions/v1\ndispositions:\n"
PAST, FUTURE = "2000-01-31", "2999-12-31"  # overdue, or not, whenever the test runs


def _file(tmp_path: Path, body: str, name: str = "dispositions.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


def _entry(key: str, **fields: str) -> str:
    lines = [f"  - finding: {key}"] + [f"    {k}: {v}" for k, v in fields.items()]
    return "\n".join(lines) + "\n"


# -- the file -----------------------------------------------------------------------------


def test_a_valid_file_is_read(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        _entry("0123456789abcdef", owner="Alice", status="in remediation", due=PAST, ticket="SEC-1")
        + _entry(
            "fedcba9876543210",
            owner="Bob",
            status='"risk accepted"',
            expires=FUTURE,
            justification="compensating control",
        ),
    )
    first, second = load_dispositions(path)
    assert first == DispositionEntry(
        "0123456789abcdef", "Alice", "in remediation", PAST, ticket="SEC-1"
    )
    assert (second.status, second.expires, second.justification) == (
        "risk accepted",
        FUTURE,
        "compensating control",
    )


def test_every_problem_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    body = (
        _entry("0123456789abcdef", owner="A", status="open")  # 5: no due date
        + _entry(
            "0123456789abcdef", owner="A", status="open", due="2026-02-30"
        )  # 6: repeat, no day
        + _entry("not-a-key", owner="A", status="open", due=PAST)  # 10
        + _entry("111111111111111a", owner="A", status="closed")  # 14: no such status
        + _entry("222222222222222a", owner="A", status='"risk accepted"')  # 17: no expiry, reason
        + _entry("333333333333333a", owner="A", status="open", due=PAST, colour="red")  # 20
        + _entry("4444444444444444", owner="A", status="open", due=PAST)  # 25: read as a number
    )
    with pytest.raises(InputError) as caught:
        load_dispositions(_file(tmp_path, body))
    found = {(d.line, d.message.split(":")[0]) for d in caught.value.diagnostics()}
    assert {d.code for d in caught.value.diagnostics()} == {"DISPOSITIONS"}
    assert {d.source for d in caught.value.diagnostics()} == {str(tmp_path / "dispositions.yaml")}
    assert found == {
        (5, "dispositions[0].status"),
        (6, "dispositions[1].finding"),
        (9, "dispositions[1].due"),
        (10, "dispositions[2].finding"),
        (16, "dispositions[3].status"),
        (19, "dispositions[4].status"),
        (24, "dispositions[5].colour"),
        (25, "dispositions[6].finding"),
    }
    number = next(d for d in caught.value.diagnostics() if d.line == 25)
    assert "quotes" in number.message
    expiry = [d for d in caught.value.diagnostics() if d.line == 19]
    assert len(expiry) == 2  # an accepted risk needs an expiry and a justification


@pytest.mark.parametrize(
    "text",
    ["[]", "schema: agent-evidence/dispositions/v1\n", "dispositions: []\n", "a: &x 1\nb: *x\n"],
)
def test_a_file_that_is_not_a_dispositions_file_is_an_input_error(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "d.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_dispositions(path)
    assert all(d.source == str(path) and d.line for d in caught.value.diagnostics())


def test_a_bad_dispositions_file_stops_the_run_before_anything_is_written(
    tmp_path: Path, capsys
) -> None:
    path = _file(tmp_path, _entry("0123456789abcdef", owner="A", status="open"))
    out = tmp_path / "out"
    args = ["--period", "2026-W43", "--out", str(out), *JSON_ONLY]
    assert main(["report", *SOURCES, *args, "--dispositions", str(path)]) == 2
    err = capsys.readouterr().err
    assert "[DISPOSITIONS]" in err
    assert f"{path}:5" in err  # the status that needs a due date
    assert "Traceback" not in err
    assert not out.exists()


# -- applying -----------------------------------------------------------------------------


def _disposition(key: str, finding_id: str | None, **fields: Any) -> Disposition:
    values: dict[str, Any] = {
        "owner": "A",
        "status": "open",
        "due": None,
        "expires": None,
        "ticket": None,
        "justification": None,
        "carried_from": None,
        "overdue": False,
        "expired": False,
    }
    return Disposition(key, finding_id, **{**values, **fields})


class _Finding:
    def __init__(self, key: str, id: str) -> None:
        self.key, self.id = key, id


def test_overdue_and_expired_come_first_and_carried_ones_fill_the_gaps() -> None:
    findings = [_Finding(f"{i:016x}", f"F-00{i}") for i in range(1, 6)]
    entries = [
        DispositionEntry(f"{1:016x}", "A", "open", due="2026-12-01"),  # not yet due
        DispositionEntry(f"{2:016x}", "A", "in remediation", due="2026-10-01"),  # overdue
        DispositionEntry(
            f"{3:016x}", "A", "risk accepted", expires="2026-10-15", justification="j"
        ),
        DispositionEntry(f"{9:016x}", "A", "false positive", justification="typo"),  # no finding
    ]
    carried = [
        _disposition(f"{1:016x}", "F-009", owner="old"),  # the file wins
        _disposition(f"{4:016x}", "F-004", owner="carried", due="2026-09-01"),
        _disposition(f"{7:016x}", "F-007"),  # resolved since: not carried
    ]
    result = apply_dispositions(
        findings,  # type: ignore[arg-type]
        entries,
        carried=carried,
        carried_from="AER-PREVIOUS",
        as_of=date(2026, 11, 2),
    )
    assert [(d.finding_id, d.overdue, d.expired) for d in result] == [
        ("F-004", True, False),
        ("F-002", True, False),
        ("F-003", False, True),
        ("F-001", False, False),
        (None, False, False),
    ]
    carried_one = result[0]
    assert (carried_one.owner, carried_one.carried_from) == ("carried", "AER-PREVIOUS")
    assert result[3].owner == "A"
    assert result[3].carried_from is None


# -- across two periods ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def periods(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Run, Path]:
    """W43 with a dispositions file for two of its findings, then W44 without one."""
    out = tmp_path_factory.mktemp("periods")
    plain = report(out / "probe", "2026-W43")
    keys = [f["key"] for f in plain.model["findings"]]
    recurring = next(
        f["key"] for f in plain.model["findings"] if "approval" in f["title"]
    )  # recurs in W44
    path = _file(
        out,
        _entry(recurring, owner="Payments team", status="in remediation", due=PAST, ticket="SEC-9")
        + _entry(
            keys[0], owner="Platform", status='"risk accepted"', expires=PAST, justification="x"
        ),
    )
    w43 = report(out / "series", "2026-W43", "--dispositions", str(path))
    w44 = report(out / "series", "2026-W44")
    return w43, w44, path


def test_dispositions_are_shown_beside_their_findings(periods) -> None:
    w43, _, _ = periods
    by_key = {f["key"]: f["id"] for f in w43.model["findings"]}
    dispositions = w43.model["dispositions"]
    assert len(dispositions) == 2
    for d in dispositions:
        assert d["finding_id"] == by_key[d["finding_key"]]
        assert d["carried_from"] is None
    assert [d["status"] for d in dispositions if d["overdue"]] == ["in remediation"]
    assert [d["status"] for d in dispositions if d["expired"]] == ["risk accepted"]
    record = w43.manifest["settings"]["dispositions"]
    assert record["sha256"].startswith("sha256:")
    assert record["name"].endswith("dispositions.yaml")


def test_dispositions_are_carried_to_the_next_period(periods) -> None:
    w43, w44, _ = periods
    assert w44.model["previous"]["report_id"] == w43.report_id
    now = {f["key"]: f["id"] for f in (*w44.model["findings"], *w44.model["exceptions"])}
    carried = w44.model["dispositions"]
    expected = {d["finding_key"] for d in w43.model["dispositions"]} & set(now)
    assert {d["finding_key"] for d in carried} == expected
    assert expected  # the approval finding recurs
    for d in carried:
        assert d["carried_from"] == w43.report_id
        assert d["finding_id"] == now[d["finding_key"]]
        assert d["owner"] in {"Payments team", "Platform"}
    assert carried[0]["overdue"] or carried[0]["expired"]  # still late: listed first
    assert w44.manifest["settings"]["dispositions"] is None


def test_a_disposition_never_changes_a_result(periods) -> None:
    w43, _, _ = periods
    plain = Run(next((w43.directory.parent.parent.parent / "probe").glob("2026-W43/*")))
    assert w43.manifest["results_digest"] == plain.manifest["results_digest"]
    for name in ("findings", "exceptions", "frameworks", "posture"):
        assert w43.model[name] == plain.model[name]
    assert w43.report_id != plain.report_id  # the file is an input: it is in the id


# -- the manual-evidence request list ------------------------------------------------------


OWNERS = """schema: agent-evidence/config/v1
evidence_owners:
  "eu-ai-act:Art.12*": Logging owner
  soc2: IT security
  "*": GRC team
"""


def test_owners_come_from_the_configuration_first_match_wins(tmp_path: Path, sample_report) -> None:
    config = tmp_path / "report.yaml"
    config.write_text(OWNERS)
    owners = load_config(config).evidence_owners
    assert owners == (
        EvidenceOwner("eu-ai-act:Art.12*", "Logging owner"),
        EvidenceOwner("soc2", "IT security"),
        EvidenceOwner("*", "GRC team"),
    )
    requests = evidence_requests(sample_report.model.frameworks, owners)
    manual = [
        (f.id, c.id)
        for f in sample_report.model.frameworks
        for c in f.controls
        if c.manual_evidence
    ]
    assert [(r.framework, r.control) for r in requests] == manual
    for r in requests:
        if r.framework == "eu-ai-act" and r.control.startswith("Art.12"):
            assert r.owner == "Logging owner"
        elif r.framework == "soc2":
            assert r.owner == "IT security"
        else:
            assert r.owner == "GRC team"
    assert evidence_requests(sample_report.model.frameworks, ())[0].owner is None


def test_the_request_list_names_each_owner_once(sample_report) -> None:
    """Grouped by owner (the one-chain report's list was 4 pages, "no owner named" on
    every row): one group per owner, each control once, and no owner column."""
    owners = (EvidenceOwner("soc2", "IT security"), EvidenceOwner("*", "GRC team"))
    requests = evidence_requests(sample_report.model.frameworks, owners)
    model = replace(sample_report.model, evidence_requests=requests)
    html = render_html(model, {})
    start = html.index('<table class="dense requests">')
    table = html[start : html.index("</table>", start)]
    groups = re.findall(r'<tr class="group"><th colspan="2">Owner: ([^<]+) · ', table)
    assert groups == list(dict.fromkeys(r.owner for r in requests))  # as the list meets them
    assert sorted(groups) == ["GRC team", "IT security"]
    assert "<th>Owner</th>" not in table
    for r in requests:
        assert table.count(f'href="#{r.anchor}"') == 1, r.anchor
    said = [int(n) for n in re.findall(r"(\d+) controls?</th>", table)]
    assert said == [sum(1 for r in requests if r.owner == o) for o in groups]


def test_owners_must_be_text(tmp_path: Path) -> None:
    config = tmp_path / "report.yaml"
    config.write_text("schema: agent-evidence/config/v1\nevidence_owners:\n  soc2: [a, b]\n")
    with pytest.raises(InputError) as caught:
        load_config(config)
    assert [(d.code, d.line) for d in caught.value.diagnostics()] == [("CONFIG", 3)]


def test_the_request_list_is_exported_and_listed_in_the_manifest(tmp_path: Path) -> None:
    config = tmp_path / "report.yaml"
    sources = f"sources: [{SOURCES[0]}]\nkeys: {SOURCES[2]}\n"
    config.write_text(OWNERS + sources)
    out = tmp_path / "out"
    args = ["--config", str(config), "--period", "2026-W43", "--out", str(out)]
    assert main(["report", *args, "--format", "csv,json", "--quiet", "--fail-on", "never"]) == 0
    run = Run(next(out.glob("2026-W43/*")))
    [export] = run.directory.glob("*-evidence-requests.csv")
    listed = {a["name"] for a in run.manifest["artefacts"]}
    assert export.name in listed
    rows = list(csv.DictReader(io.StringIO(export.read_text())))
    requests = run.model["evidence_requests"]
    assert len(rows) == sum(len(r["evidence"]) for r in requests)
    assert {(r["framework"], r["control"], r["owner"]) for r in rows} == {
        (r["framework"], r["control"], r["owner"]) for r in requests
    }
    assert run.manifest["settings"]["evidence_owners"][0] == {
        "pattern": "eu-ai-act:Art.12*",
        "owner": "Logging owner",
    }
    assert json.loads(json.dumps(run.model["evidence_requests"]))[0]["evidence"]
