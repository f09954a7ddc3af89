"""``hotline kb``: the standard answers (R12b) — import, export, and try the matcher.

* ``hotline kb match [--json] [--kb FILE.yaml] [--db-url URL]`` reads questions
  from standard input, one per line, and writes one line per question:
  ``<id>\\t<confidence>`` (the id empty when the bot would hand over), or with
  ``--json`` ``{"id": ..., "confidence": ...}`` (``null`` id).  The knowledge
  base is the enabled answers in the database, or the YAML file ``--kb``.
* ``hotline kb import FILE.yaml`` validates a YAML knowledge base and inserts
  or replaces its answers in the database.
* ``hotline kb export [--all]`` prints the database's answers as YAML.

The knowledge base's file topics are the five topics of the service
(:data:`hotline.bot.kb.KB_TOPICS`); in the database an answer carries the
topic of the queue it hands over to, so ``state_services`` is stored as the
demo's ``services`` (:data:`QUEUE_TOPICS`) and mapped back on export.
Embeddings of the knowledge base are cached in ``<data dir>/cache`` (never
the callers' questions).
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer

from hotline.bot.kb import KB_TOPICS, KbEntry, dump_kb, load_kb, parse_kb
from hotline.core.errors import RemoteProtocolError
from hotline.store.kb import StoredAnswer

if TYPE_CHECKING:  # the model is imported only when a matcher is built
    from hotline.bot.kb_match import KbMatcher

__all__ = [
    "PACKAGED_KB",
    "QUEUE_TOPICS",
    "build_matcher",
    "entries_to_stored",
    "kb_app",
    "load_packaged_kb",
    "register",
    "stored_to_entries",
]

PACKAGED_KB: Final = "standard-answers.yaml"
QUEUE_TOPICS: Final = {"state_services": "services"}
"""Knowledge-base topic → the topic of the queue it hands over to (the demo's names)."""
_FILE_TOPICS: Final = {queue: kb for kb, queue in QUEUE_TOPICS.items()}
IMPORT_TOPICS: Final = (*KB_TOPICS, *QUEUE_TOPICS.values())
EXIT_DATA: Final = 1
CACHE_FILE: Final = Path("cache") / "kb-embeddings.npz"

kb_app = typer.Typer(
    name="kb",
    help="Standard answers (R12b): import, export, and check the answer matcher.",
    no_args_is_help=True,
)


def load_packaged_kb() -> tuple[KbEntry, ...]:
    """The knowledge base shipped with the package (the demo's standard answers)."""
    text = (resources.files("hotline.bot") / "data" / PACKAGED_KB).read_text(encoding="utf-8")
    return parse_kb(text)


def entries_to_stored(entries: Iterable[KbEntry]) -> list[StoredAnswer]:
    """File entries as database answers (topics mapped to queue topics)."""
    return [
        StoredAnswer(
            id=e.id,
            topic=QUEUE_TOPICS.get(e.topic, e.topic),
            title=e.title,
            questions=e.questions,
            answer=e.answer,
            escalate=e.escalate,
        )
        for e in entries
    ]


def stored_to_entries(
    answers: Iterable[StoredAnswer], *, file_topics: bool = False
) -> tuple[KbEntry, ...]:
    """Database answers as matcher entries (``file_topics``: mapped back for a file)."""
    return tuple(
        KbEntry(
            id=a.id,
            topic=_FILE_TOPICS.get(a.topic, a.topic) if file_topics else a.topic,
            title=a.title,
            questions=a.questions,
            answer=a.answer,
            escalate=a.escalate,
        )
        for a in answers
    )


def build_matcher(entries: Sequence[KbEntry], cache: Path | None) -> KbMatcher:
    """A matcher with the packaged embedding model; KB embeddings cached in ``cache``."""
    from hotline.bot.kb_embed import CachedEmbedder, E5Embedder
    from hotline.bot.kb_match import KbMatcher

    embedder = CachedEmbedder(E5Embedder(), cache)
    matcher = KbMatcher.build(entries, embedder)
    with contextlib.suppress(OSError):  # a read-only data dir only costs time next run
        embedder.save()
    return matcher


def _fail(message: str) -> typer.Exit:
    typer.echo(f"hotline kb: {message}", err=True)
    return typer.Exit(EXIT_DATA)


def _db_url(ctx: typer.Context, db_url: str | None) -> tuple[str, Path | None]:
    from hotline.app.cli import load_cli_settings

    settings = load_cli_settings(ctx)
    return db_url or settings.database_url, settings.data_dir / CACHE_FILE


def _database_answers(url: str, *, enabled_only: bool) -> list[StoredAnswer]:
    from hotline.store.db import Database
    from hotline.store.kb import StandardAnswersRepository

    db = Database(url)
    try:
        if not db.is_initialised():
            raise _fail("the database is not initialised (run hotline init)")
        return StandardAnswersRepository(db).list(enabled_only=enabled_only)
    finally:
        db.dispose()


DbUrlOption = Annotated[
    str | None, typer.Option("--db-url", help="Database URL (default: the settings').")
]


@kb_app.command("match")
def match_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    kb: Annotated[
        Path | None,
        typer.Option(
            "--kb", help="Match against this YAML file, not the database.", dir_okay=False
        ),
    ] = None,
    db_url: DbUrlOption = None,
) -> None:
    """Match questions from standard input (one per line) to the standard answers."""
    url, cache = _db_url(ctx, db_url)
    try:
        if kb is not None:
            entries = load_kb(kb, topics=IMPORT_TOPICS)
        else:
            entries = stored_to_entries(_database_answers(url, enabled_only=True))
    except (OSError, RemoteProtocolError) as exc:
        raise _fail(str(exc)) from None
    if not entries:
        raise _fail("the knowledge base has no answers")
    matcher = build_matcher(entries, cache)
    for line in sys.stdin:
        result = matcher.match(line.rstrip("\r\n"))
        if as_json:
            typer.echo(json.dumps({"id": result.answer_id, "confidence": result.confidence}))
        else:
            typer.echo(f"{result.answer_id or ''}\t{result.confidence:.4f}")


@kb_app.command("import")
def import_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="YAML knowledge base.", dir_okay=False)],
    db_url: DbUrlOption = None,
    by: Annotated[str, typer.Option("--by", help="Who made the change.")] = "cli",
) -> None:
    """Insert or replace the answers of a YAML knowledge base in the database."""
    from hotline.store.db import Database
    from hotline.store.kb import StandardAnswersRepository

    url, _ = _db_url(ctx, db_url)
    try:
        entries = load_kb(file, topics=IMPORT_TOPICS)
    except (OSError, RemoteProtocolError) as exc:
        raise _fail(str(exc)) from None
    db = Database(url)
    try:
        if not db.is_initialised():
            raise _fail("the database is not initialised (run hotline init)")
        count = StandardAnswersRepository(db).import_answers(
            entries_to_stored(entries), updated_by=by[:64]
        )
    finally:
        db.dispose()
    typer.echo(f"hotline kb: {count} standard answers imported")


@kb_app.command("export")
def export_command(
    ctx: typer.Context,
    db_url: DbUrlOption = None,
    include_disabled: Annotated[
        bool, typer.Option("--all", help="Include disabled answers.")
    ] = False,
) -> None:
    """Print the database's standard answers as YAML."""
    url, _ = _db_url(ctx, db_url)
    answers = _database_answers(url, enabled_only=not include_disabled)
    typer.echo(dump_kb(stored_to_entries(answers, file_topics=True)), nl=False)


def register(app: typer.Typer) -> None:
    """Add ``kb`` to the ``hotline`` command."""
    app.add_typer(kb_app, name="kb")
