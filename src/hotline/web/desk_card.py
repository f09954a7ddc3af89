"""The call card's data from the store: wait, transcript, earlier calls, call-backs, answers.

Blocking functions (database reads): call them in a thread.  The caller's
earlier calls and call-back requests are found among the last
``history_days`` of ``call.arrived`` / ``queue.callback_requested`` /
``callback.completed`` events by the digits of the number; each earlier
call carries its wrap-up (outcome, notes) when one was saved.  Standard
answers (R12b) are searched in their title, typical questions and text
(case-insensitive words), or suggested by the call's topic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from hotline.calls.api import LiveCall
from hotline.reports.events import EventKind
from hotline.store.db import Database
from hotline.store.event_queries import EventQueries, StoredEvent
from hotline.store.kb import StandardAnswersRepository, StoredAnswer
from hotline.store.organisations import OrganisationsRepository, StoredOrganisation
from hotline.store.wrapups import WrapupRepository
from hotline.web.desk_models import AnswerOut, CallbackOut, EarlierCallOut, OrganisationOut

__all__ = [
    "MAX_QUERY_CHARS",
    "CardData",
    "card_data",
    "digits_of",
    "search_answers",
    "search_organisations",
]

MAX_QUERY_CHARS: Final = 100
MAX_RESULTS: Final = 20
_HISTORY_KINDS: Final = (
    EventKind.CALL_ARRIVED.value,
    EventKind.QUEUE_CALLBACK_REQUESTED.value,
    EventKind.CALLBACK_COMPLETED.value,
)
_MIN_DIGITS: Final = 5  # short service numbers have no history worth showing


@dataclass(frozen=True, slots=True)
class CardData:
    """What the store knows about a live call and its caller."""

    wait_s: float | None
    via_assistant: bool
    transcript: str | None
    earlier_calls: tuple[EarlierCallOut, ...]
    callbacks: tuple[CallbackOut, ...]
    answers: tuple[AnswerOut, ...]


def digits_of(number: str | None) -> str:
    """The number's digits, a leading Russian ``8`` read as ``7``."""
    digits = "".join(c for c in number or "" if c.isdigit())
    if len(digits) == 11 and digits[0] == "8":
        return "7" + digits[1:]
    return digits


def _wait_and_bot(events: Sequence[StoredEvent], now: datetime) -> tuple[float | None, bool, str]:
    wait: float | None = None
    entered: datetime | None = None
    bot = False
    transcript = ""
    for e in events:
        if e.kind == EventKind.QUEUE_ENTERED.value:
            entered = e.timestamp
            wait = None
        elif e.kind == EventKind.QUEUE_ANSWERED.value:
            value = e.payload.get("wait_s")
            wait = float(value) if isinstance(value, int | float) else None
            entered = None
        elif e.kind == EventKind.CALL_BOT_STARTED.value:
            bot = True
        elif e.kind == EventKind.CALL_BOT_ENDED.value:
            bot = True
            text = e.payload.get("transcript")
            transcript = text if isinstance(text, str) else ""
    if entered is not None:
        wait = max(0.0, (now - entered).total_seconds())
    return wait, bot, transcript


def _secrecy_labels(
    db: Database, call_ids: Sequence[str]
) -> dict[str, tuple[str | None, set[str]]]:
    """Per call: (its topic as the events last said it, every topic and queue it touched).

    ``call.arrived`` carries no topic (the caller picks it in the menu later),
    so the whole event history of each earlier call is read.
    """
    out: dict[str, tuple[str | None, set[str]]] = {}
    for e in EventQueries(db).of_calls(call_ids):
        if e.call_id is None:
            continue
        last, labels = out.get(e.call_id, (None, set()))
        if e.topic:
            labels.add(e.topic)
            last = e.topic
        if e.queue_id:
            labels.add(e.queue_id)
        out[e.call_id] = (last, labels)
    return out


def _history(
    db: Database,
    call: LiveCall,
    now: datetime,
    days: int,
    limit: int,
    may_see: Callable[[str | None], bool] | None,
) -> tuple[tuple[EarlierCallOut, ...], tuple[CallbackOut, ...]]:
    wanted = digits_of(call.caller_number)
    if len(wanted) < _MIN_DIGITS:
        return (), ()
    events = EventQueries(db).between(now - timedelta(days=days), now, kinds=_HISTORY_KINDS)
    arrived: list[StoredEvent] = []
    requested: list[StoredEvent] = []
    completed: set[str] = set()
    for e in events:
        if e.call_id is None or e.call_id == call.call_id:
            continue
        if e.kind == EventKind.CALLBACK_COMPLETED.value:
            completed.add(e.call_id)
            continue
        field = "caller" if e.kind == EventKind.CALL_ARRIVED.value else "number"
        value = e.payload.get(field)
        if isinstance(value, str) and digits_of(value) == wanted:
            (arrived if field == "caller" else requested).append(e)
    arrived = sorted(arrived, key=lambda e: e.timestamp, reverse=True)
    requested = sorted(requested, key=lambda e: e.timestamp, reverse=True)
    ids = [e.call_id or "" for e in (*arrived, *requested)]
    wrapups = {w.call_id: w for w in WrapupRepository(db).for_calls(ids)}
    labels = _secrecy_labels(db, ids)

    def topic_of(call_id: str) -> str | None:
        w = wrapups.get(call_id)
        return w.topic if w is not None and w.topic else labels.get(call_id, (None, set()))[0]

    def visible(e: StoredEvent) -> bool:
        if may_see is None:
            return True
        call_id = e.call_id or ""
        seen = set(labels.get(call_id, (None, set()))[1])
        w = wrapups.get(call_id)
        seen.update(x for x in (e.topic, e.queue_id, w.topic if w else None) if x)
        return all(may_see(t) for t in seen)

    earlier = tuple(
        EarlierCallOut(
            call_id=e.call_id or "",
            at=e.timestamp,
            topic=topic_of(e.call_id or ""),
            outcome=w.outcome if (w := wrapups.get(e.call_id or "")) is not None else None,
            notes=w.notes if w is not None else None,
        )
        for e in [e for e in arrived if visible(e)][:limit]
    )
    callbacks = tuple(
        CallbackOut(
            call_id=e.call_id or "",
            at=e.timestamp,
            queue_id=e.queue_id,
            completed=e.call_id in completed,
        )
        for e in [e for e in requested if visible(e)][:limit]
    )
    return earlier, callbacks


def _answer_out(a: StoredAnswer) -> AnswerOut:
    return AnswerOut(id=a.id, topic=a.topic, title=a.title, answer=a.answer)


def _words(text: str) -> list[str]:
    return [w for w in text.casefold().replace("ё", "е").split() if w]


def search_answers(
    db: Database, query: str | None, topic: str | None, limit: int = MAX_RESULTS
) -> list[AnswerOut]:
    """Enabled answers matching every word of ``query`` (best first); by ``topic`` without one."""
    words = _words((query or "")[:MAX_QUERY_CHARS])
    answers = StandardAnswersRepository(db).list(enabled_only=True)
    if not words:
        return [_answer_out(a) for a in answers if topic is None or a.topic == topic][:limit]
    scored: list[tuple[int, int, str, StoredAnswer]] = []
    for a in answers:
        title = a.title.casefold().replace("ё", "е")
        body = " ".join((*a.questions, a.answer)).casefold().replace("ё", "е")
        if all(w in title or w in body for w in words):
            in_title = sum(w in title for w in words)
            scored.append((-in_title, 0 if a.topic == topic else 1, a.id, a))
    scored.sort(key=lambda s: s[:3])
    return [_answer_out(s[3]) for s in scored[:limit]]


def _organisation_out(o: StoredOrganisation) -> OrganisationOut:
    return OrganisationOut(
        organisation_id=o.organisation_id,
        name=o.name,
        number=o.number,
        topics=list(o.topics),
        hours=o.hours,
    )


def search_organisations(
    db: Database, query: str | None, topic: str | None, limit: int = MAX_RESULTS
) -> list[OrganisationOut]:
    """Enabled organisations whose name or topics hold every word of ``query``; ``topic`` first."""
    words = _words((query or "")[:MAX_QUERY_CHARS])
    found: list[tuple[int, str, StoredOrganisation]] = []
    for o in OrganisationsRepository(db).all():
        if not o.enabled:
            continue
        text = " ".join((o.name, o.organisation_id, *o.topics)).casefold().replace("ё", "е")
        if all(w in text for w in words):
            found.append((0 if topic is not None and topic in o.topics else 1, o.name, o))
    found.sort(key=lambda f: f[:2])
    return [_organisation_out(f[2]) for f in found[:limit]]


def card_data(
    db: Database,
    call: LiveCall,
    *,
    now: datetime,
    history_days: int,
    history_limit: int,
    may_see: Callable[[str | None], bool] | None = None,
) -> CardData:
    """Everything the store adds to the live ``call`` (blocking).

    ``may_see(topic)``: whether the viewer may see calls of a topic (medical
    secrecy).  An earlier call or a call-back request is left out when any
    topic or queue its call ever had (every event of it, and its wrap-up) is
    one the viewer may not see.
    """
    wait, bot, transcript = _wait_and_bot(EventQueries(db).of_calls([call.call_id]), now)
    earlier, callbacks = _history(db, call, now, history_days, history_limit, may_see)
    answers = search_answers(db, None, call.topic, limit=10) if call.topic else []
    return CardData(
        wait_s=round(wait, 1) if wait is not None else None,
        via_assistant=bot,
        transcript=transcript or None,
        earlier_calls=earlier,
        callbacks=callbacks,
        answers=tuple(answers),
    )
