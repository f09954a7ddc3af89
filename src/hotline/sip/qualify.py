"""OPTIONS qualify of registered phones (as Asterisk's ``qualify``), sans-IO.

Every ``interval_s`` each live binding gets an OPTIONS; a final response of
any status proves the phone is alive (RFC 3261 §11: a UA answers OPTIONS as
it would INVITE, maybe 486 or 401, but it answers).  A timeout (the
transaction's synthetic 408) marks it unreachable, so that call control does
not offer calls to a phone that is gone.  Round-trip times are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hotline.sip.dialog import new_call_id, new_tag
from hotline.sip.hdr_types import NameAddr
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import make_request
from hotline.sip.registrar import Binding
from hotline.sip.txn_model import new_branch
from hotline.sip.uri import SipUri, parse_uri

__all__ = ["ContactHealth", "Qualifier"]


@dataclass(slots=True)
class ContactHealth:
    reachable: bool | None = None  # None until the first answer or timeout
    rtt_s: float | None = None
    last_checked: float | None = None
    failures: int = 0


@dataclass(slots=True)
class Qualifier:
    """Decides which contacts to ping and records what came back."""

    via_sent_by: str
    interval_s: float = 60.0
    health: dict[tuple[str, str], ContactHealth] = field(default_factory=dict)

    def build(self, binding: Binding) -> SipRequest:
        """The OPTIONS for ``binding`` (to its contact, sent to where it registered from)."""
        target = parse_uri(binding.contact, "Contact")
        me = SipUri(host=self.via_sent_by.rsplit(":", 1)[0], user="hotline")
        return make_request(
            "OPTIONS",
            target,
            from_=NameAddr(me).with_tag(new_tag()),
            to=NameAddr(target),
            call_id=new_call_id(self.via_sent_by),
            cseq=1,
            via=f"SIP/2.0/{binding.source.transport.value} {self.via_sent_by};branch={new_branch()};rport",
            headers=[("Accept", "application/sdp")],
        )

    def due(self, bindings: list[Binding], now: float) -> list[Binding]:
        """Bindings whose last check is older than the interval."""
        out = []
        for b in bindings:
            h = self.health.get((b.aor, b.contact))
            if h is None or h.last_checked is None or now - h.last_checked >= self.interval_s:
                out.append(b)
                self.health.setdefault((b.aor, b.contact), ContactHealth()).last_checked = now
        return out

    def record(self, binding: Binding, response: SipResponse, sent_at: float, now: float) -> None:
        h = self.health.setdefault((binding.aor, binding.contact), ContactHealth())
        if response.status == 408 and not response.headers.get("Via"):
            h.reachable = False
            h.failures += 1
            h.rtt_s = None
        else:
            h.reachable = True
            h.failures = 0
            h.rtt_s = now - sent_at

    def forget(self, binding: Binding) -> None:
        self.health.pop((binding.aor, binding.contact), None)

    def is_reachable(self, aor: str, contact: str) -> bool:
        """False only when the last check timed out (unknown counts as reachable)."""
        h = self.health.get((aor, contact))
        return h is None or h.reachable is not False

    def counts(self) -> tuple[int, int]:
        """(reachable, unreachable) contacts."""
        up = sum(1 for h in self.health.values() if h.reachable is True)
        down = sum(1 for h in self.health.values() if h.reachable is False)
        return up, down
