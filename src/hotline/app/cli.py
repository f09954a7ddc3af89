"""The ``hotline`` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hotline import __version__
from hotline.app.cli_acd import register as _register_acd
from hotline.app.cli_asr import register as _register_asr
from hotline.app.cli_demo import register as _register_demo
from hotline.app.cli_kb import register as _register_kb
from hotline.app.cli_report import register as _register_report
from hotline.app.cli_staffing import register as _register_staffing
from hotline.app.retention import register as _register_retention
from hotline.app.settings import Settings, load_settings
from hotline.core.errors import ConfigurationError

__all__ = ["app", "load_cli_settings", "main"]

EXIT_CONFIG = 2

app = typer.Typer(
    name="hotline",
    help="Hotline 122: a self-hosted contact-centre platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class _State:
    config: Path | None = None


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"hotline: {message}", err=True)
    return typer.Exit(code)


def _settings(ctx: typer.Context, *, check_dirs: bool = True) -> Settings:
    state: _State = ctx.ensure_object(_State)
    try:
        return load_settings(state.config, check_dirs=check_dirs)
    except ConfigurationError as exc:
        raise _fail(f"invalid setting {exc}", EXIT_CONFIG) from None


def load_cli_settings(ctx: typer.Context) -> Settings:
    """The settings for a command (exit 2 with one line on a bad setting)."""
    return _settings(ctx)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML settings file (or HOTLINE_CONFIG).", dir_okay=False),
    ] = None,
) -> None:
    ctx.ensure_object(_State).config = config


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"hotline {__version__}")


@app.command()
def serve(ctx: typer.Context) -> None:
    """Run the service until SIGTERM/SIGINT, then drain and stop."""
    settings = _settings(ctx)
    from hotline.app.logs import configure_logging
    from hotline.app.node import run_node

    configure_logging(settings.log_format, settings.log_level)
    try:
        run_node(settings)
    except OSError as exc:
        raise _fail(f"cannot start: {exc}", 1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@app.command()
def init(
    ctx: typer.Context,
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo service.")] = False,
    demo_password: Annotated[
        str | None,
        typer.Option("--demo-password", help="One password for every demo account."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Re-initialise an existing database.")
    ] = False,
    if_missing: Annotated[
        bool,
        typer.Option("--if-missing", help="Do nothing (exit 0) when the database exists."),
    ] = False,
) -> None:
    """Create the data directory and database (and load the demo with --demo)."""
    settings = _settings(ctx)
    from hotline.app.demo import (
        load_demo,
        load_demo_flow,
        load_demo_organisations,
        load_demo_queues,
        load_demo_standard_answers,
        write_credentials,
    )
    from hotline.store.accounts import AccountsRepository
    from hotline.store.db import Database
    from hotline.store.kb import StandardAnswersRepository
    from hotline.store.organisations import OrganisationsRepository
    from hotline.store.proposals import FlowsRepository
    from hotline.store.queues import QueuesRepository

    if demo_password is not None and not demo:
        raise _fail("--demo-password needs --demo", EXIT_CONFIG)
    if demo_password is not None and len(demo_password) < 4:
        raise _fail("--demo-password must have at least 4 characters", EXIT_CONFIG)
    db = Database(settings.database_url)
    try:
        existed = db.is_initialised()
        if existed and if_missing:
            typer.echo(f"hotline: database already initialised ({_safe_url(db.url)})")
            return
        if existed and not force:
            raise _fail(
                f"database already initialised ({_safe_url(db.url)}); use --force to replace it",
                1,
            )
        db.migrate()
        repo = AccountsRepository(db)
        queues = QueuesRepository(db)
        organisations = OrganisationsRepository(db)
        answers = StandardAnswersRepository(db)
        if existed:
            repo.clear()
            queues.clear()
            organisations.clear()
            answers.clear()
        typer.echo(f"hotline: database ready ({_safe_url(db.url)})")
        if demo:
            accounts = load_demo(repo, password=demo_password)
            load_demo_queues(queues)
            load_demo_flow(FlowsRepository(db))
            load_demo_organisations(organisations)
            load_demo_standard_answers(answers)
            creds = settings.data_dir / "demo-credentials.txt"
            text = write_credentials(creds, accounts, sip_port=settings.sip_port)
            typer.echo(text)
            typer.echo(f"hotline: demo service loaded; credentials saved to {creds} (mode 0600)")
    finally:
        db.dispose()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


_register_acd(app)
_register_demo(app)
_register_kb(app)
_register_asr(app)
_register_report(app)
_register_staffing(app)
_register_retention(app)


def main() -> None:
    """Entry point of the ``hotline`` script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
