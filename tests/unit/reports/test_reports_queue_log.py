"""Asterisk-style queue_log lines from our events (hotline.reports.queue_log)."""

from __future__ import annotations

from reports_log import T0, K, Log, at

from hotline.reports.queue_log import queue_log_lines, render_queue_log

E0 = int(T0.timestamp())


def _day() -> Log:
    log = Log()
    # c1: enters at position 2, one ring with no answer, answered, caller hangs up.
    log.arrive("c1", 0, caller="+79161234567")
    log.add(K.QUEUE_ENTERED, 1, call="c1", queue="health", position=2)
    log.add(K.QUEUE_OFFERED, 5, call="c1", queue="health", op="op1")
    log.add(K.QUEUE_RING_NOANSWER, 20, call="c1", queue="health", op="op1", ring_ms=15000)
    log.add(K.QUEUE_OFFERED, 21, call="c1", queue="health", op="op2")
    log.answer("c1", "health", "op2", 24, 23)
    log.end("c1", 124, who="caller")
    # c2: abandoned; c3: timed out; c4: answered, the operator hangs up.
    log.arrive("c2", 200, caller="+79990000001")
    log.add(K.QUEUE_ENTERED, 200, call="c2", queue="health", position=1)
    log.abandon("c2", "health", 240, 40)
    log.end("c2", 240)
    log.arrive("c3", 300, caller="+79990000002")
    log.add(K.QUEUE_ENTERED, 300, call="c3", queue="social", position=3)
    log.time_out("c3", "social", 420, 120)
    log.end("c3", 421, who="system")
    log.arrive("c4", 500, caller="+79990000003")
    log.add(K.QUEUE_ENTERED, 500, call="c4", queue="social", position=1)
    log.answer("c4", "social", "op1", 502, 2)
    log.end("c4", 602, who="operator")
    return log


def test_every_line_of_a_small_day() -> None:
    text = render_queue_log(queue_log_lines(_day().events))
    assert text.splitlines() == [
        f"{E0 + 1}|c1|health|NONE|ENTERQUEUE||+7********67|2",
        f"{E0 + 20}|c1|health|op1|RINGNOANSWER|15000||",
        f"{E0 + 24}|c1|health|op2|CONNECT|23|c1|3",
        f"{E0 + 124}|c1|health|op2|COMPLETECALLER|23|100|2",
        f"{E0 + 200}|c2|health|NONE|ENTERQUEUE||+7********01|1",
        f"{E0 + 240}|c2|health|NONE|ABANDON|1|1|40",
        f"{E0 + 300}|c3|social|NONE|ENTERQUEUE||+7********02|3",
        f"{E0 + 420}|c3|social|NONE|EXITWITHTIMEOUT|3|3|120",
        f"{E0 + 500}|c4|social|NONE|ENTERQUEUE||+7********03|1",
        f"{E0 + 502}|c4|social|op1|CONNECT|2|c4|0",
        f"{E0 + 602}|c4|social|op1|COMPLETEAGENT|2|100|1",
    ]
    assert text.endswith("\n")


def test_timed_out_is_never_written_as_abandon() -> None:
    events = [ln.event for ln in queue_log_lines(_day().events)]
    assert events.count("EXITWITHTIMEOUT") == 1
    assert events.count("ABANDON") == 1


def test_numbers_shown_only_when_asked() -> None:
    (first, *_rest) = queue_log_lines(_day().events, show_numbers=True)
    assert first.data == ("", "+79161234567", "2")


def test_period_bounds_and_time_order() -> None:
    lines = queue_log_lines(_day().events, start=at(200), end=at(421))
    assert [(ln.call_id, ln.event) for ln in lines] == [
        ("c2", "ENTERQUEUE"),
        ("c2", "ABANDON"),
        ("c3", "ENTERQUEUE"),
        ("c3", "EXITWITHTIMEOUT"),
    ]


def test_empty_full_and_transfer_without_complete() -> None:
    log = Log()
    log.arrive("e", 0)
    log.add(K.QUEUE_LEFT_EMPTY, 0, call="e", queue="q")
    log.arrive("f", 10)
    log.add(K.QUEUE_LEFT_FULL, 10, call="f", queue="q")
    log.arrive("t", 20)
    log.enter("t", "q", 20)
    log.answer("t", "q", "op1", 25, 5)
    log.add(K.CALL_TRANSFERRED, 30, call="t", op="op1", kind="blind", to="op2", to_type="operator")
    log.end("t", 90)
    lines = [ln.render() for ln in queue_log_lines(log.events)]
    assert lines == [
        f"{E0}|e|q|NONE|EXITEMPTY|||",
        f"{E0 + 10}|f|q|NONE|FULL|||",
        f"{E0 + 20}|t|q|NONE|ENTERQUEUE||+7********00|1",
        f"{E0 + 25}|t|q|op1|CONNECT|5|t|0",
    ]


def test_separator_inside_a_field_is_replaced() -> None:
    log = Log()
    log.arrive("x|y", 0)
    log.enter("x|y", "q", 0)
    (line,) = queue_log_lines(log.events)
    assert line.render().split("|")[1] == "x_y"
