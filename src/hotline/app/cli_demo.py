"""``hotline demo-call``: place a real test call into a running service with SIPp.

The call goes in from the loopback network (the demo's local-test trunk),
waits through the greeting, presses a menu digit (RFC 2833, from the pcaps
that ship with SIPp), talks for a while with recorded audio and hangs up, so a
newcomer sees a call travel through menu, queue and operator.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]

PCAP_DIR = Path("/usr/share/sip-tester")
DIGIT_FILES = {**{str(d): f"dtmf_2833_{d}.pcap" for d in range(10)}, "*": "dtmf_2833_star.pcap",
               "#": "dtmf_2833_pound.pcap"}  # fmt: skip
INSTALL_HINT = (
    "install SIPp first: apt-get install sip-tester (or bash scripts/system-deps.sh as root)"
)


def demo_call(
    ctx: typer.Context,
    digit: Annotated[str, typer.Option("--digit", help="Menu key to press: 0-9, * or #.")] = "2",
    seconds: Annotated[int, typer.Option("--seconds", min=1, max=600, help="Talk time, s.")] = 20,
    menu_wait_s: Annotated[
        float, typer.Option("--menu-wait-s", min=0.0, max=120.0, help="Wait before the key, s.")
    ] = 12.0,
    host: Annotated[str, typer.Option("--host", help="Where the service listens.")] = "127.0.0.1",
    number: Annotated[str, typer.Option("--number", help="Number to call.")] = "122",
) -> None:
    """Call 122 on a running `hotline serve` with SIPp and press a menu key."""
    from hotline.app.cli import load_cli_settings

    settings = load_cli_settings(ctx)
    sipp = shutil.which("sipp")
    if sipp is None:
        typer.echo(f"hotline: {INSTALL_HINT}", err=True)
        raise typer.Exit(2)
    if digit not in DIGIT_FILES:
        typer.echo("hotline: --digit must be one of 0-9, * or #", err=True)
        raise typer.Exit(2)
    needed = ("g711a.pcap", DIGIT_FILES[digit])
    if not all((PCAP_DIR / name).is_file() for name in needed):
        typer.echo(
            f"hotline: SIPp's sample pcaps are missing in {PCAP_DIR}: {INSTALL_HINT}", err=True
        )
        raise typer.Exit(2)
    template = resources.files("hotline.app") / "scenarios" / "demo_call.xml"
    scenario = (
        template.read_text(encoding="utf-8")
        .replace("$MENU_WAIT_MS", str(int(menu_wait_s * 1000)))
        .replace("$DIGIT_PCAP", DIGIT_FILES[digit])
        .replace("$TALK_MS", str(seconds * 1000))
    )
    with tempfile.TemporaryDirectory(prefix="hotline-demo-call-") as tmp:
        work = Path(tmp)
        (work / "pcap").mkdir()
        for name in needed:
            shutil.copy(PCAP_DIR / name, work / "pcap" / name)
        (work / "demo_call.xml").write_text(scenario, encoding="utf-8")
        target = f"{host}:{settings.sip_port}"
        typer.echo(f"hotline: calling {number} at {target}, key {digit} after {menu_wait_s:g} s, "
                   f"talking {seconds} s", err=True)  # fmt: skip
        timeout = int(menu_wait_s + seconds + 120)
        result = subprocess.run(
            [sipp, "-sf", "demo_call.xml", target, "-s", number, "-m", "1", "-i", host,
             "-nostdin", "-timeout", f"{timeout}s", "-timeout_error", "-trace_err"],
            cwd=work, capture_output=True, text=True, timeout=timeout + 30, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            errors = work / "demo_call_errors.log"
            detail = (
                errors.read_text(encoding="latin-1")[-1500:]
                if errors.is_file()
                else result.stderr[-1500:]
            )
            typer.echo(
                f"hotline: the demo call failed (SIPp exit {result.returncode})\n{detail}", err=True
            )
            raise typer.Exit(1)
    typer.echo(
        "hotline: the demo call went through (see the operator's phone, /metrics and the recordings)"
    )


def register(app: typer.Typer) -> None:
    app.command("demo-call")(demo_call)
