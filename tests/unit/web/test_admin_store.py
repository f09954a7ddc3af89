"""The stores behind the administration: the proposals register, flows, account updates."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hotline.core.errors import ConfigurationError
from hotline.store.account_updates import AccountUpdates
from hotline.store.db import Database
from hotline.store.proposals import (
    TRANSITIONS,
    FlowsRepository,
    ProposalsRepository,
    ProposalStatus,
)
from hotline.store.recording_events import RecordingEvents
from unit.web.web_support import START

S = ProposalStatus


def test_the_status_table_allows_exactly_the_register_steps() -> None:
    allowed = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert allowed == {
        (S.NEW, S.UNDER_REVIEW),
        (S.NEW, S.REJECTED),
        (S.UNDER_REVIEW, S.ACCEPTED),
        (S.UNDER_REVIEW, S.REJECTED),
        (S.ACCEPTED, S.IMPLEMENTED),
    }
    assert set(TRANSITIONS) == set(ProposalStatus)


@pytest.mark.parametrize("current", list(ProposalStatus))
@pytest.mark.parametrize("wanted", list(ProposalStatus))
def test_every_status_step_is_checked(db: Database, current: S, wanted: S) -> None:
    repo = ProposalsRepository(db)
    p = repo.add_proposal(text="Текст", topic="social", author="admin", now=START)
    path = {
        S.NEW: [],
        S.UNDER_REVIEW: [S.UNDER_REVIEW],
        S.ACCEPTED: [S.UNDER_REVIEW, S.ACCEPTED],
        S.REJECTED: [S.REJECTED],
        S.IMPLEMENTED: [S.UNDER_REVIEW, S.ACCEPTED, S.IMPLEMENTED],
    }[current]
    for step in path:
        repo.set_status(p.id, step, now=START)
    if wanted in TRANSITIONS[current]:
        moved = repo.set_status(p.id, wanted, now=START + timedelta(hours=1), resolution="ok")
        assert moved is not None and moved.status is wanted and moved.resolution == "ok"
    else:
        with pytest.raises(ConfigurationError):
            repo.set_status(p.id, wanted, now=START)
        stored = repo.get(p.id)
        assert stored is not None and stored.status is current


def test_proposals_are_bounded_and_listed_newest_first(db: Database) -> None:
    repo = ProposalsRepository(db)
    with pytest.raises(ConfigurationError):
        repo.add_proposal(text="   ", topic="social", author="a", now=START)
    with pytest.raises(ConfigurationError):
        repo.add_proposal(text="x" * 4001, topic="social", author="a", now=START)
    first = repo.add_proposal(text="Первое", topic="social", author="a", now=START)
    second = repo.add_proposal(
        text="Второе", topic="health", author="op", now=START + timedelta(minutes=1), call_id="c1"
    )
    assert [p.id for p in repo.list()] == [second.id, first.id]
    assert (second.source, first.source) == ("call", "manual")
    assert [p.id for p in repo.list(status=S.NEW)] == [second.id, first.id]
    assert repo.set_status("nope", S.REJECTED, now=START) is None


def test_flows_and_account_updates(db: Database) -> None:
    flows = FlowsRepository(db)
    assert flows.get("main") is None
    flows.save("main", "name: x\n", updated_by="admin", now=START)
    stored = flows.get("main")
    assert stored is not None and stored.yaml_text == "name: x\n" and flows.names() == ["main"]
    updates = AccountUpdates(db)
    assert not updates.update_user("nobody", is_active=False)
    assert not updates.update_operator("nobody", enabled=False)
    assert updates.update_user("u0", permissions=["medical_secrecy"], display_name="Оператор")
    user = updates.user("u0")
    assert user is not None and user.permissions == ("medical_secrecy",)
    assert RecordingEvents(db).by_id("x" * 33) is None
    assert RecordingEvents(db).by_id("0" * 32) is None
