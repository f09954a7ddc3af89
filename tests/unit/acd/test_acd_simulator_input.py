"""The simulator's inputs: forecast and staffing CSV, talk-time samples, the queue YAML mapping."""

from __future__ import annotations

import dataclasses

import pytest

from hotline.acd.model import EmptyPolicy, ExitAction, ExitKind, QueueConfig, TierRule
from hotline.acd.sim_config import _CONVERTERS, queue_config_from_mapping
from hotline.acd.sim_input import (
    MAX_TABLE_ROWS,
    SimInputError,
    format_clock,
    parse_forecast,
    parse_handle_samples,
    parse_staffing,
)
from hotline.core.errors import ConfigurationError, LimitExceededError, RemoteProtocolError

# -- forecast ----------------------------------------------------------------------


def test_a_forecast_with_and_without_patience() -> None:
    text = "start,calls,aht_s,patience_s\n08:00,100,180,60\n08:30,12.5,200,\n09:00,0,180,90\n"
    forecast = parse_forecast(text, "f.csv")
    assert forecast.interval_s == 1800
    assert forecast.starts_s == (8 * 3600, 8 * 3600 + 1800, 9 * 3600)
    first, second, third = forecast.rows
    assert (first.calls, first.aht_s, first.patience_s, first.row) == (100.0, 180.0, 60.0, 2)
    assert (second.calls, second.patience_s, second.row) == (12.5, None, 3)
    assert third.calls == 0.0


def test_a_forecast_without_the_patience_column_and_with_blank_lines() -> None:
    text = "\ufeffstart,calls,aht_s\n\n7:00,10,120\n08:00,20,120\n\n"
    forecast = parse_forecast(text, "f.csv")
    assert forecast.interval_s == 3600
    assert [r.patience_s for r in forecast.rows] == [None, None]
    assert [r.row for r in forecast.rows] == [3, 4]


def test_a_single_row_uses_the_default_interval() -> None:
    forecast = parse_forecast("start,calls,aht_s\n10:00,5,100\n", "f.csv", default_interval_s=900)
    assert forecast.interval_s == 900


def test_semicolons_and_decimal_commas_as_a_russian_spreadsheet_writes_them() -> None:
    text = "start;calls;aht_s;patience_s\n08:00;100,5;180,25;60\n"
    (row,) = parse_forecast(text, "f.csv").rows
    assert (row.calls, row.aht_s, row.patience_s) == (100.5, 180.25, 60.0)


@pytest.mark.parametrize(
    ("text", "row", "column", "problem"),
    [
        ("start,aht_s\n08:00,180\n", 1, "calls", "missing column"),
        ("start,calls,aht_s,patience\n08:00,1,180,60\n", 1, "patience", "unknown column"),
        ("start,calls,aht_s,calls\n08:00,1,180,2\n", 1, "calls", "column given twice"),
        ("start,calls,aht_s\n8h00,100,180\n", 2, "start", "is not a time HH:MM"),
        ("start,calls,aht_s\n24:00,100,180\n", 2, "start", "is not a time of day"),
        ("start,calls,aht_s\n08:00,-5,180\n", 2, "calls", "is negative"),
        ("start,calls,aht_s\n08:00,many,180\n", 2, "calls", "is not a number"),
        ("start,calls,aht_s\n08:00,nan,180\n", 2, "calls", "not a finite number"),
        ("start,calls,aht_s\n08:00,10,\n", 2, "aht_s", "a number is needed"),
        ("start,calls,aht_s\n08:00,10,0\n", 2, "aht_s", "greater than 0"),
        ("start,calls,aht_s\n08:00,10,100000\n", 2, "aht_s", "out of range"),
        ("start,calls,aht_s,patience_s\n08:00,10,180,0\n", 2, "patience_s", "greater than 0"),
        ("start,calls,aht_s\n08:00,1,180\n07:30,1,180\n", 3, "start", "must grow"),
        ("start,calls,aht_s\n08:00,1,180\n08:30,1,180\n09:30,1,180\n", 4, "start", "equally long"),
        ("start,calls,aht_s\n23:00,1,180\n23:45,1,180\n", 3, "start", "past 24:00"),
    ],
)
def test_a_bad_forecast_names_the_row_and_column(
    text: str, row: int, column: str, problem: str
) -> None:
    with pytest.raises(SimInputError) as caught:
        parse_forecast(text, "F.csv")
    error = caught.value
    assert isinstance(error, RemoteProtocolError) and error.status_hint == 400
    assert (error.source, error.row, error.column) == ("F.csv", row, column)
    assert problem in error.problem
    assert str(error).startswith(f"F.csv, row {row}, column {column!r}: ")


@pytest.mark.parametrize(
    ("text", "problem"),
    [("", "empty"), ("\n , ,\n", "empty"), ("start,calls,aht_s\n", "only a header")],
)
def test_an_empty_forecast_is_refused(text: str, problem: str) -> None:
    with pytest.raises(SimInputError, match=problem):
        parse_forecast(text, "F.csv")


def test_the_forecast_parser_has_limits() -> None:
    with pytest.raises(LimitExceededError):
        parse_forecast("x" * (2 << 20), "F.csv")
    rows = "".join(f"{format_clock(60 * i)},1,60\n" for i in range(MAX_TABLE_ROWS))
    assert len(parse_forecast("start,calls,aht_s\n" + rows, "F.csv").rows) == MAX_TABLE_ROWS
    with pytest.raises(LimitExceededError):
        parse_forecast("start,calls,aht_s\n" + rows + "00:00,1,60\n", "F.csv")
    with pytest.raises(SimInputError, match="longer than"):
        parse_forecast("start,calls,aht_s\n08:00,1," + "1" * 2000 + "\n", "F.csv")


def test_broken_csv_quoting_is_an_input_error() -> None:
    with pytest.raises(SimInputError, match="not valid CSV"):
        parse_forecast('start,calls,aht_s\n08:00,"1"x,180\n', "F.csv")


# -- staffing and samples ----------------------------------------------------------


def test_a_staffing_plan() -> None:
    plan = parse_staffing("start,operators\n00:00,2\n08:15,13\n", "S.csv")
    assert [(r.start_s, r.operators, r.row) for r in plan] == [(0, 2, 2), (8 * 3600 + 900, 13, 3)]


@pytest.mark.parametrize(
    ("text", "row", "column", "problem"),
    [
        ("start\n08:00\n", 1, "operators", "missing column"),
        ("start,operators\n08:00,2.5\n", 2, "operators", "whole number"),
        ("start,operators\n08:00,-1\n", 2, "operators", "negative"),
        ("start,operators\n08:00,20001\n", 2, "operators", "out of range"),
        ("start,operators\n08:00,1\n08:00,2\n", 3, "start", "must grow"),
    ],
)
def test_a_bad_staffing_plan_names_the_row_and_column(
    text: str, row: int, column: str, problem: str
) -> None:
    with pytest.raises(SimInputError) as caught:
        parse_staffing(text, "S.csv")
    assert (caught.value.row, caught.value.column) == (row, column)
    assert problem in caught.value.problem


def test_talk_time_samples_with_a_header() -> None:
    assert parse_handle_samples("talk_s\n120\n\n95,5\n300;\n", "h.txt") == (120.0, 95.5, 300.0)
    with pytest.raises(SimInputError, match="no samples"):
        parse_handle_samples("talk_s\n", "h.txt")
    with pytest.raises(SimInputError) as caught:
        parse_handle_samples("10\n-5\n", "h.txt")
    assert caught.value.row == 2


def test_clock_format() -> None:
    assert [format_clock(s) for s in (0, 8 * 3600 + 1800, 86_400)] == ["00:00", "08:30", "24:00"]


# -- queue configuration -------------------------------------------------------------


def test_every_queue_field_has_a_converter() -> None:
    assert set(_CONVERTERS) == {f.name for f in dataclasses.fields(QueueConfig)}


def test_the_default_queue_is_the_demo_norms() -> None:
    config = queue_config_from_mapping(None)
    assert (config.queue_id, config.sl_norm_s, config.max_wait_s) == ("sim", 20.0, 120.0)
    assert queue_config_from_mapping({}) == config


def test_a_full_queue_configuration() -> None:
    config = queue_config_from_mapping(
        {
            "queue_id": "health",
            "name": "Здравоохранение",
            "topic": "health",
            "weight": 2,
            "sl_norm_s": 30,
            "max_wait_s": None,
            "max_wait_action": {"kind": "overflow", "target": "general"},
            "max_length": 50,
            "full_action": "callback",
            "when_empty": "refuse",
            "leave_when_empty_s": 0,
            "empty_action": {"kind": "external", "target": "+74950000000"},
            "wrap_up_s": 15.5,
            "strategy": "weighted-random",
            "strategy_params": {"by": "level"},
            "tiers": [{"after_s": 0, "min_level": 6}, {"after_s": 20, "min_level": 1}],
            "announce_interval_s": None,
            "announce_on_entry": False,
            "short_abandon_s": 0,
        }
    )
    assert config.sl_norm_s == 30.0 and config.max_wait_s is None
    assert config.max_wait_action == ExitAction(ExitKind.OVERFLOW, "general")
    assert config.full_action == ExitAction(ExitKind.CALLBACK)
    assert config.when_empty is EmptyPolicy.REFUSE
    assert config.tiers == (TierRule(0.0, 6), TierRule(20.0, 1))
    assert config.strategy_params == {"by": "level"}
    assert config.announce_interval_s is None and config.announce_on_entry is False


@pytest.mark.parametrize(
    ("data", "setting", "problem"),
    [
        ({"sl_norm_s": "20"}, "sl_norm_s", "number of seconds"),
        ({"sl_norm_s": True}, "sl_norm_s", "number of seconds"),
        ({"sl_norm_s": 0}, "sl_norm_s", "> 0"),
        ({"max_wait_s": -1}, "max_wait_s", "seconds > 0"),
        ({"max_wait_s": float("inf")}, "max_wait_s", "finite"),
        ({"weight": 1.5}, "weight", "whole number"),
        ({"max_lenght": 5}, "max_lenght", "unknown field"),
        ({"when_empty": "wait"}, "when_empty", "join, refuse"),
        ({"announce_on_entry": "yes"}, "announce_on_entry", "true or false"),
        ({"max_wait_action": "transfer"}, "max_wait_action.kind", "must be one of"),
        ({"max_wait_action": {"kind": "overflow"}}, "max_wait_action", "needs a target"),
        ({"max_wait_action": {"kind": "end", "to": 1}}, "max_wait_action.to", "unknown key"),
        ({"max_wait_action": 5}, "max_wait_action", "action name"),
        ({"tiers": []}, "tiers", "list of 1..10"),
        ({"tiers": [{"after_s": 0}]}, "tiers[0]", "min_level"),
        ({"tiers": [{"after_s": 0, "min_level": 11}]}, "tiers[0].min_level", "1..10"),
        ({"tiers": [{"after_s": -1, "min_level": 1}]}, "tiers[0].after_s", ">= 0"),
        (
            {"tiers": [{"after_s": 5, "min_level": 1}]},
            "tiers",
            "first tier must start at after_s=0",
        ),
        ({"strategy": "best-guess"}, "strategy", "best-guess"),
        ({"strategy_params": {"by": [1]}}, "strategy_params.by", "text, number"),
        ({"strategy": "linear", "strategy_params": {"x": 1}}, "strategy_params", "no parameters"),
        ({"queue_id": ""}, "queue_id", "text of 1..200"),
    ],
)
def test_a_bad_queue_field_is_named(data: dict[str, object], setting: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        queue_config_from_mapping(data)
    assert caught.value.setting == setting
    assert problem in caught.value.problem


@pytest.mark.parametrize("data", [[1, 2], "queue", 5])
def test_a_queue_configuration_must_be_a_mapping(data: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        queue_config_from_mapping(data)
    assert caught.value.setting == "queue"
