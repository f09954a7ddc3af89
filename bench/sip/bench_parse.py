"""Parse + serialise throughput of a typical INVITE with SDP (hotline.sip message layer).

Run: ``.venv/bin/python bench/sip/bench_parse.py [-n N]``.  Prints messages per
second on one core plus the machine (cores, CPU model, Python version).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from hotline.sip.msg_parse import parse_message

__all__ = ["INVITE", "main"]

_SDP = (
    b"v=0\r\n"
    b"o=- 3872659034 3872659034 IN IP4 198.51.100.7\r\n"
    b"s=-\r\n"
    b"c=IN IP4 198.51.100.7\r\n"
    b"t=0 0\r\n"
    b"m=audio 40376 RTP/AVP 8 0 101\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)

INVITE = (
    b"INVITE sip:122@hotline.example.ru SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-524287-1---9f2c1a7be3d1;rport\r\n"
    b"Via: SIP/2.0/UDP 203.0.113.20:5060;branch=z9hG4bK77ef.2a1c44d1.0;received=203.0.113.20\r\n"
    b"Max-Forwards: 69\r\n"
    b"Record-Route: <sip:203.0.113.20;lr;ftag=as5e1b2c4d>\r\n"
    b"Contact: <sip:79161234567@198.51.100.7:5060;transport=udp>\r\n"
    b'To: "Hotline" <sip:122@hotline.example.ru>\r\n'
    b'From: "79161234567" <sip:79161234567@trunk.example.ru>;tag=as5e1b2c4d\r\n'
    b"Call-ID: 3c26700857d1-1mmh2k7x8rq1@198.51.100.7\r\n"
    b"CSeq: 102 INVITE\r\n"
    b"User-Agent: Asterisk PBX 18.10.0\r\n"
    b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH\r\n"
    b"Supported: replaces, timer\r\n"
    b"Session-Expires: 1800;refresher=uac\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(_SDP)).encode() + b"\r\n"
    b"\r\n" + _SDP
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _run(count: int) -> tuple[float, float]:
    """Wall and CPU seconds for ``count`` parse+serialise rounds."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        message = parse_message(INVITE)
        message.to_bytes()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    """Parse and serialise the INVITE ``-n`` times; print the rate and the machine."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=50_000, help="iterations per round")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many rounds")
    args = parser.parse_args()
    _run(1000)  # warm-up
    rounds = [_run(args.n) for _ in range(args.rounds)]
    wall = min(r[0] for r in rounds)
    cpu = min(r[1] for r in rounds)
    load = os.getloadavg()[0]
    print(f"machine: nproc={os.cpu_count()} cpu={_cpu_model()!r} load1={load:.2f}")
    print(f"python: {sys.version.split()[0]} ({platform.python_implementation()})")
    print(f"message: INVITE with SDP, {len(INVITE)} bytes, {args.n} per round")
    print(
        f"parse+serialize: {args.n / wall:,.0f} messages/s wall "
        f"({wall / args.n * 1e6:.1f} us each), {args.n / cpu:,.0f} per CPU second, "
        f"best of {args.rounds} rounds"
    )


if __name__ == "__main__":
    main()
