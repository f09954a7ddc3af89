"""The call card's earlier calls and call-backs keep medical calls secret (R12d)."""

from __future__ import annotations

from pathlib import Path

from hotline.reports.events import EventKind
from hotline.store.db import Database
from hotline.web.desk_card import card_data
from hotline.web.masking import may_see_topic
from hotline.web.permissions import Permission, permissions_of
from unit.web.workplace_fakes import CALLER, at, event, live_call, store_events


async def _history(db: Database, journal: Path) -> None:
    # The topic is never on call.arrived: the caller picks it in the menu later.
    await store_events(
        db,
        journal,
        [
            event(EventKind.CALL_ARRIVED, -4000, "old-med", caller=CALLER, called="122"),
            event(EventKind.QUEUE_ENTERED, -3990, "old-med", queue="health", topic="health",
                  position=1),
            event(EventKind.CALL_ARRIVED, -3000, "old-soc", caller=CALLER, called="122"),
            event(EventKind.QUEUE_ENTERED, -2990, "old-soc", queue="social", topic="social",
                  position=1),
            event(EventKind.CALL_ARRIVED, -2500, "cb-med", caller=CALLER, called="122"),
            event(EventKind.QUEUE_CALLBACK_REQUESTED, -2400, "cb-med", queue="health",
                  topic="health", number=CALLER),
            event(EventKind.CALL_ARRIVED, -2000, "cb-soc", caller=CALLER, called="122"),
            event(EventKind.QUEUE_CALLBACK_REQUESTED, -1900, "cb-soc", queue="social",
                  number=CALLER),
        ],
    )  # fmt: skip


def _card(
    db: Database, permissions: frozenset[Permission]
) -> tuple[list[tuple[str, str | None]], list[str]]:
    data = card_data(
        db,
        live_call("c1"),
        now=at(0),
        history_days=30,
        history_limit=10,
        may_see=lambda topic: may_see_topic(permissions, topic),
    )
    earlier = [(c.call_id, c.topic) for c in data.earlier_calls]
    return earlier, [c.call_id for c in data.callbacks]


async def test_medical_earlier_calls_and_callbacks_stay_off_the_operators_card(
    db: Database, tmp_path: Path
) -> None:
    await _history(db, tmp_path / "journal")
    earlier, callbacks = _card(db, permissions_of("operator"))
    # The topic comes from the call's later events (before: None, so nothing was hidden).
    assert earlier == [("cb-soc", None), ("old-soc", "social")]
    assert callbacks == ["cb-soc"]  # the call-back request in the health queue is hidden


async def test_medical_secrecy_shows_them_with_their_topic(db: Database, tmp_path: Path) -> None:
    await _history(db, tmp_path / "journal")
    earlier, callbacks = _card(db, permissions_of("operator", ["medical_secrecy"]))
    assert earlier == [
        ("cb-soc", None),
        ("cb-med", "health"),
        ("old-soc", "social"),
        ("old-med", "health"),
    ]
    assert callbacks == ["cb-soc", "cb-med"]
