"""Wrap-up records (migration 0011): stored, found by call, proposals listed and moved on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hotline.core.errors import ConfigurationError
from hotline.store.db import Database
from hotline.store.wrapups import MAX_NOTES_CHARS, WrapupInput, WrapupRepository

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _form(call_id: str, *, proposal: bool = False, notes: str = "") -> WrapupInput:
    return WrapupInput(call_id, "1001", "operator1", "social", "consulted", notes, proposal)


def test_records_and_the_proposals_register(db: Database) -> None:
    repo = WrapupRepository(db)
    first = repo.add(_form("c1", notes="Всё объяснено"), T0)
    second = repo.add(_form("c2", proposal=True, notes="Работать в субботу"), T0 + timedelta(1))
    third = repo.add(_form("c1", proposal=True), T0 + timedelta(hours=2))
    assert first.id < second.id < third.id
    assert first.at == T0 and first.proposal_status is None
    assert [w.id for w in repo.for_calls(["c1", "c9"])] == [first.id, third.id]
    listed = repo.proposals(T0, T0 + timedelta(days=2))
    assert [w.id for w in listed] == [second.id, third.id]  # newest first
    assert {w.proposal_status for w in listed} == {"new"}
    assert repo.set_proposal_status(second.id, "accepted")
    assert not repo.set_proposal_status(first.id, "accepted")  # not a proposal
    accepted = repo.proposals(T0, T0 + timedelta(days=2), statuses=["accepted"])
    assert [(w.id, w.notes) for w in accepted] == [(second.id, "Работать в субботу")]
    assert repo.proposals(T0 + timedelta(days=1, seconds=1), T0 + timedelta(days=2)) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("call_id", ""), ("outcome", "x" * 33), ("notes", "я" * (MAX_NOTES_CHARS + 1)), ("topic", "")],
)
def test_forms_are_checked(field: str, value: str) -> None:
    values = {"call_id": "c1", "operator_id": "1001", "username": "op", "topic": "social",
              "outcome": "consulted", "notes": ""} | {field: value}  # fmt: skip
    with pytest.raises(ConfigurationError):
        WrapupInput(**values)  # type: ignore[arg-type]


def test_naive_times_are_refused(db: Database) -> None:
    with pytest.raises(ConfigurationError):
        WrapupRepository(db).add(_form("c1"), datetime(2026, 3, 2, 9, 0))
