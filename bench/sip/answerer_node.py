"""A SIP node that answers every call (no media), for call-setup benchmarks.

Run: python bench/sip/answerer_node.py PORT  — serves UDP on 127.0.0.1:PORT until SIGTERM.
Trusts the loopback network (no digest), like the demo's local test trunk.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from hotline.sip.useragent import UserAgent
from support.answerer import Answerer
from support.sipnode import sip_endpoint


async def main(port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    answerer = Answerer()
    async with sip_endpoint(trusted=[("127.0.0.0/8", "bench")], port=port) as endpoint:
        ua = UserAgent(endpoint, answerer)
        print("ready", flush=True)
        await stop.wait()
        print(
            f"answered={answerer.answered} confirmed={answerer.confirmed} "
            f"ended={len(answerer.terminated)} active={ua.active_legs}",
            flush=True,
        )


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
