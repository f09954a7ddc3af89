"""``hotline asr check``: is the speech recognition model installed and working (docs/asr.md).

Exit status 0 when the model loads (and, with ``--wav``, recognises the file),
1 when it does not (the reason is printed), 2 on a bad WAV file.
"""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path
from typing import Annotated

import typer

from hotline.bot.asr_check import check_model, read_wav

__all__ = ["asr_app", "register"]

asr_app = typer.Typer(help="Speech recognition model checks.", no_args_is_help=True)


@asr_app.command("check")
def check(
    model_dir: Annotated[
        Path | None,
        typer.Argument(help="Model directory; default: HOTLINE_ASR_MODEL_DIR / asr_model_dir."),
    ] = None,
    wav: Annotated[
        Path | None, typer.Option(help="An 8 kHz mono 16-bit WAV file to recognise.")
    ] = None,
    grammar: Annotated[
        str | None, typer.Option(help="Comma-separated phrases, e.g. 'оператор,да,нет'.")
    ] = None,
    *,
    ctx: typer.Context,
) -> None:
    """Load the model the way the voice assistant does; optionally recognise a WAV file."""
    if model_dir is None:
        from hotline.app.cli import load_cli_settings

        model_dir = load_cli_settings(ctx).asr_model_dir
    pcm = None
    if wav is not None:
        try:
            pcm = read_wav(wav)
        except (OSError, EOFError, ValueError, wave.Error) as exc:
            typer.echo(f"cannot use {wav}: {exc}", err=True)
            raise typer.Exit(2) from None
    phrases = [p.strip() for p in grammar.split(",") if p.strip()] if grammar else None
    report = asyncio.run(check_model(model_dir, pcm, phrases))
    if not report.usable:
        typer.echo(f"NOT USABLE: {report.problem}")
        raise typer.Exit(1)
    mode = "supported" if report.grammar else "not supported (static graph)"
    typer.echo(f"OK: model {report.model_dir} loaded in {report.load_s:.1f} s; grammar mode {mode}")
    if report.transcript is not None:
        confidence = "n/a" if report.confidence is None else f"{report.confidence:.2f}"
        typer.echo(f"transcript: {report.transcript!r} (confidence {confidence})")


def register(app: typer.Typer) -> None:
    """Add ``asr`` to the ``hotline`` command."""
    app.add_typer(asr_app, name="asr")
