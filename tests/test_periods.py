"""Reporting periods: every `--period` form, `--since/--until`, and canonical names."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from reporting.errors import UsageError
from reporting.evidence.frame import Period
from reporting.periods import parse_period, period_name, resolve_period


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "since", "until"),
    [
        ("2026-10", utc(2026, 10, 1), utc(2026, 11, 1)),
        ("2026-01", utc(2026, 1, 1), utc(2026, 2, 1)),
        ("2026-12", utc(2026, 12, 1), utc(2027, 1, 1)),
        ("2024-02", utc(2024, 2, 1), utc(2024, 3, 1)),
        ("2026-Q1", utc(2026, 1, 1), utc(2026, 4, 1)),
        ("2026-Q3", utc(2026, 7, 1), utc(2026, 10, 1)),
        ("2026-Q4", utc(2026, 10, 1), utc(2027, 1, 1)),
        ("2026-q2", utc(2026, 4, 1), utc(2026, 7, 1)),
        ("2026-W44", utc(2026, 10, 26), utc(2026, 11, 2)),
        # W01 holds the year's first Thursday: it may start in the previous December ...
        ("2026-W01", utc(2025, 12, 29), utc(2026, 1, 5)),
        ("2025-W01", utc(2024, 12, 30), utc(2025, 1, 6)),
        # ... or a few days into January.
        ("2027-W01", utc(2027, 1, 4), utc(2027, 1, 11)),
        # 2026 starts on a Thursday, so it has 53 weeks; W53 runs into 2027.
        ("2026-W53", utc(2026, 12, 28), utc(2027, 1, 4)),
        ("2020-W53", utc(2020, 12, 28), utc(2021, 1, 4)),
        ("2026-w02", utc(2026, 1, 5), utc(2026, 1, 12)),
    ],
)
def test_absolute_periods(text: str, since: datetime, until: datetime) -> None:
    period = parse_period(text, None, None)
    assert (period.since, period.until) == (since, until)
    assert period.since is not None
    assert period.since.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "today", "since", "until"),
    [
        ("last-month", date(2026, 11, 15), utc(2026, 10, 1), utc(2026, 11, 1)),
        ("last-month", date(2026, 11, 1), utc(2026, 10, 1), utc(2026, 11, 1)),
        ("last-month", date(2026, 10, 31), utc(2026, 9, 1), utc(2026, 10, 1)),
        ("last-month", date(2027, 1, 1), utc(2026, 12, 1), utc(2027, 1, 1)),
        ("last-month", date(2027, 1, 31), utc(2026, 12, 1), utc(2027, 1, 1)),
        ("last-month", date(2024, 3, 31), utc(2024, 2, 1), utc(2024, 3, 1)),
        ("last-quarter", date(2026, 11, 15), utc(2026, 7, 1), utc(2026, 10, 1)),
        ("last-quarter", date(2026, 10, 1), utc(2026, 7, 1), utc(2026, 10, 1)),
        ("last-quarter", date(2026, 9, 30), utc(2026, 4, 1), utc(2026, 7, 1)),
        ("last-quarter", date(2027, 2, 10), utc(2026, 10, 1), utc(2027, 1, 1)),
        ("last-week", date(2026, 11, 4), utc(2026, 10, 26), utc(2026, 11, 2)),
        ("last-week", date(2026, 11, 2), utc(2026, 10, 26), utc(2026, 11, 2)),
        ("last-week", date(2026, 11, 1), utc(2026, 10, 19), utc(2026, 10, 26)),
        # first days of a year: last week is the previous ISO year's W53 / W52
        ("last-week", date(2027, 1, 5), utc(2026, 12, 28), utc(2027, 1, 4)),
        ("last-week", date(2026, 1, 1), utc(2025, 12, 22), utc(2025, 12, 29)),
        ("last-week", date(2026, 1, 7), utc(2025, 12, 29), utc(2026, 1, 5)),
    ],
)
def test_relative_periods(text: str, today: date, since: datetime, until: datetime) -> None:
    period = parse_period(text, None, None, today=today)
    assert (period.since, period.until) == (since, until)


def test_relative_periods_default_to_the_current_utc_date() -> None:
    today = datetime.now(UTC).date()
    assert parse_period("last-month", None, None) == parse_period(
        "last-month", None, None, today=today
    )
    period = parse_period("last-week", None, None)
    assert period.until is not None
    assert period.until.date() <= today


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        ("2026-10-05", None, (utc(2026, 10, 5), None)),
        (None, "2026-11-01", (None, utc(2026, 11, 1))),
        ("2026-10-05T12:00:00", None, (utc(2026, 10, 5, 12), None)),
        ("2026-10-05T12:00:00Z", "2026-10-06", (utc(2026, 10, 5, 12), utc(2026, 10, 6))),
        (None, "2026-10-05T12:00:00+02:00", (None, utc(2026, 10, 5, 10))),
        ("2026-10-05 23:30-01:00", None, (utc(2026, 10, 6, 0, 30), None)),
        (None, None, (None, None)),
    ],
)
def test_explicit_bounds_are_utc(
    since: str | None, until: str | None, expected: tuple[datetime | None, ...]
) -> None:
    period = parse_period(None, since, until)
    assert (period.since, period.until) == expected
    for bound in (period.since, period.until):
        assert bound is None or bound.tzinfo is UTC


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("2026-13", None, None), "'2026-13'"),
        (("2026-00", None, None), "'2026-00'"),
        (("2026-Q5", None, None), "'2026-Q5'"),
        (("2026-Q0", None, None), "'2026-Q0'"),
        (("2026-W00", None, None), "'2026-W00'"),
        (("2026-W54", None, None), "'2026-W54'"),
        (("2027-W53", None, None), "'2027-W53'"),  # 2027 has 52 ISO weeks
        (("0000-10", None, None), "'0000-10'"),
        (("9999-12", None, None), "'9999-12'"),
        (("9999-Q4", None, None), "'9999-Q4'"),
        (("26-10", None, None), "'26-10'"),
        (("2026-10-01", None, None), "'2026-10-01'"),
        (("next-month", None, None), "'next-month'"),
        (("Last-Month", None, None), "'Last-Month'"),
        (("", None, None), "''"),
        ((None, "yesterday", None), "'yesterday'"),
        ((None, "20261005", None), "'20261005'"),
        ((None, "2026-W40-1", None), "'2026-W40-1'"),
        ((None, "2026-10-32", None), "'2026-10-32'"),
        ((None, None, "2026-10-05T25:00"), "'2026-10-05T25:00'"),
        ((None, "2026-10-05", "2026-10-01"), "'2026-10-05'"),
        ((None, "2026-10-05", "2026-10-05"), "'2026-10-05'"),
        (("2026-10", "2026-10-01", None), "--period"),
        (("2026-10", None, "2026-11-01"), "--period"),
    ],
)
def test_bad_periods_are_usage_errors_naming_the_value(
    args: tuple[str | None, str | None, str | None], named: str
) -> None:
    with pytest.raises(UsageError) as caught:
        parse_period(*args)
    assert caught.value.code == "BAD_PERIOD"
    assert named in str(caught.value)


def test_resolve_period_names_the_setting_in_errors() -> None:
    with pytest.raises(UsageError, match=r"^period '2026-13' is not one of YYYY-MM"):
        resolve_period("2026-13", name="period")


@pytest.mark.parametrize(
    ("period", "name"),
    [
        (parse_period("2026-10", None, None), "2026-10"),
        (parse_period("2026-12", None, None), "2026-12"),
        (parse_period("2026-Q3", None, None), "2026-Q3"),
        (parse_period("2026-Q4", None, None), "2026-Q4"),
        (parse_period("2026-W44", None, None), "2026-W44"),
        (parse_period("2026-W01", None, None), "2026-W01"),
        (parse_period("2026-W53", None, None), "2026-W53"),
        (parse_period("2027-W01", None, None), "2027-W01"),
        (parse_period("last-month", None, None, today=date(2027, 1, 3)), "2026-12"),
        (parse_period("last-week", None, None, today=date(2027, 1, 5)), "2026-W53"),
        (parse_period(None, "2026-10-01", "2026-11-01"), "2026-10"),
        (parse_period(None, "2026-10-01T02:00+02:00", "2026-11-01T01:00+01:00"), "2026-10"),
        (parse_period(None, "2026-10-15", "2026-11-01"), "20261015-20261101"),
        (parse_period(None, "2026-10-01", "2026-10-31"), "20261001-20261031"),
        (parse_period(None, "2026-10-26", "2026-11-03"), "20261026-20261103"),
        (parse_period(None, "2026-10-27", "2026-11-03"), "20261027-20261103"),  # not a Monday
        (parse_period(None, "2026-08-01", "2026-11-01"), "20260801-20261101"),  # not a quarter
        (parse_period(None, "2026-10-15", None), "20261015-now"),
        (parse_period(None, None, "2026-11-01"), "start-20261101"),
        (parse_period(None, "2026-10-15T12:00:00Z", "2026-10-16"), "20261015T120000Z-20261016"),
        (parse_period(None, "2026-10-01T00:00:01", "2026-11-01"), "20261001T000001Z-20261101"),
        (Period(), "all"),
    ],
)
def test_period_names(period: Period, name: str) -> None:
    assert period_name(period) == name


def test_every_absolute_period_names_itself() -> None:
    texts = [f"2026-{m:02d}" for m in range(1, 13)]
    texts += [f"{y}-Q{q}" for y in (2025, 2026) for q in range(1, 5)]
    texts += [f"2026-W{w:02d}" for w in range(1, 54)]
    for text in texts:
        assert period_name(parse_period(text, None, None)) == text
