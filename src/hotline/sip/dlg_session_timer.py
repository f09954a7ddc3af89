"""Session timers (RFC 4028): negotiation of Session-Expires, Min-SE and the refresher.

A session refresh request is the initial INVITE, a re-INVITE or an UPDATE.
``refresher=uac``/``uas`` in those headers names a role *in that
transaction*; :class:`SessionTimer` turns it into "we refresh" or "the peer
refreshes" for the dialog.

As UAC of a refresh request (§7): :meth:`SessionTimer.request_headers` gives
``Session-Expires`` and ``Min-SE``; :meth:`SessionTimer.on_success` reads the
2xx (§7.2: no Session-Expires in the 2xx while we asked for one means the
peer lacks the extension, so we refresh, with our interval);
:meth:`SessionTimer.on_too_small` reads a 422 and says whether to retry with
the larger interval it raised (§7.3).

As UAS (§9): :meth:`SessionTimer.check_request` returns the Min-SE for a 422
when the interval asked for is below our minimum and the UAC supports the
extension (it could not understand a 422 otherwise);
:meth:`SessionTimer.response_headers` chooses interval and refresher for the
2xx (Table 2 of §9) and adds ``Require: timer`` when the UAC supports it.

Timers are data (§10): the refresher gets :class:`RefreshDue` at half the
interval; either side gets :class:`SessionExpired` at
``interval - min(32, interval / 3)`` after the last refresh when none
succeeded: the session then sends BYE, so dead calls end.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from hotline.core.errors import LocalProtocolError
from hotline.sip.dlg_events import RefreshDue, SessionExpired
from hotline.sip.hdr_types import MAX_CSEQ, parse_uint
from hotline.sip.message import SipMessage, SipRequest, SipResponse
from hotline.sip.msg_grammar import Params, bad_header, parse_params

__all__ = [
    "ABSOLUTE_MIN_SE_S",
    "MAX_422_RETRIES",
    "Refresher",
    "SessionExpires",
    "SessionTimer",
    "SessionTimerConfig",
    "expiry_margin_s",
    "parse_min_se",
    "parse_session_expires",
]

#: No session interval may be below 90 s (RFC 4028 §4, §5).
ABSOLUTE_MIN_SE_S = 90
#: How many times one refresh request is retried after 422 before we give up.
MAX_422_RETRIES = 3


class Refresher(enum.StrEnum):
    """The ``refresher`` parameter: a role in the refresh transaction (§4)."""

    UAC = "uac"
    UAS = "uas"


@dataclass(frozen=True, slots=True)
class SessionExpires:
    """``Session-Expires: delta-seconds [;refresher=uac|uas]`` (§4)."""

    interval_s: int
    refresher: Refresher | None = None
    params: Params = field(default_factory=Params)

    def __str__(self) -> str:
        refresher = "" if self.refresher is None else f";refresher={self.refresher}"
        return f"{self.interval_s}{refresher}{self.params}"


def parse_session_expires(value: str) -> SessionExpires:
    """Parse a Session-Expires value; an interval of 0 is refused (400)."""
    if len(value) > 256:
        raise bad_header("Session-Expires", "value too long")
    digits, semi, rest = value.strip(" \t").partition(";")
    interval = parse_uint(digits.rstrip(" \t"), "Session-Expires", MAX_CSEQ, clamp=True)
    if interval == 0:
        raise bad_header("Session-Expires", "interval of 0 seconds")
    params = parse_params(semi + rest, "Session-Expires")
    raw = params.get("refresher")
    refresher: Refresher | None = None
    if raw is not None:
        try:
            refresher = Refresher(raw.lower())
        except ValueError:
            raise bad_header("Session-Expires", f"bad refresher {raw[:20]!r}") from None
    return SessionExpires(interval, refresher, params.without("refresher"))


def parse_min_se(value: str) -> int:
    """Parse ``Min-SE: delta-seconds`` (§5)."""
    if len(value) > 256:
        raise bad_header("Min-SE", "value too long")
    digits = value.strip(" \t").partition(";")[0].rstrip(" \t")
    return parse_uint(digits, "Min-SE", MAX_CSEQ, clamp=True)


def expiry_margin_s(interval_s: int) -> float:
    """How long before expiry the non-refresher ends the session: min(32, interval/3) (§10)."""
    return min(32.0, interval_s / 3)


def _session_expires(message: SipMessage) -> SessionExpires | None:
    values = message.headers.get_all("Session-Expires")
    if not values:
        return None
    if len(values) > 1:
        raise bad_header("Session-Expires", "appears more than once")
    return parse_session_expires(values[0])


def _min_se(message: SipMessage) -> int | None:
    values = message.headers.get_all("Min-SE")
    if not values:
        return None
    if len(values) > 1:
        raise bad_header("Min-SE", "appears more than once")
    return parse_min_se(values[0])


def _supports_timer(request: SipRequest) -> bool:
    return any(tag.lower() == "timer" for tag in (*request.supported(), *request.require()))


@dataclass(frozen=True, slots=True)
class SessionTimerConfig:
    """Local session-timer policy.

    ``enabled`` makes us ask for a timer (as UAC) and offer one when the UAC
    did not (as UAS); we always honour a timer the peer asks for.
    ``uas_refresher`` is who refreshes when we, as UAS, may choose.
    """

    enabled: bool = True
    interval_s: int = 1800
    min_se_s: int = ABSOLUTE_MIN_SE_S
    uas_refresher: Refresher = Refresher.UAC

    def __post_init__(self) -> None:
        if self.min_se_s < ABSOLUTE_MIN_SE_S:
            raise LocalProtocolError(f"Min-SE below {ABSOLUTE_MIN_SE_S} s (RFC 4028 §5)")
        if self.interval_s < self.min_se_s:
            raise LocalProtocolError("session interval below our own Min-SE")


class SessionTimer:
    """RFC 4028 state of one dialog: the interval, who refreshes, and the next deadline."""

    __slots__ = (
        "_config", "_expires_at", "_interval_s", "_min_se_s", "_refresh_at",
        "_retries", "_we_refresh",
    )  # fmt: skip

    def __init__(self, config: SessionTimerConfig | None = None) -> None:
        self._config = config or SessionTimerConfig()
        self._interval_s: int | None = None
        self._we_refresh = False
        self._min_se_s = self._config.min_se_s
        self._refresh_at: float | None = None
        self._expires_at: float | None = None
        self._retries = 0

    @property
    def interval_s(self) -> int | None:
        """The negotiated session interval; None while no timer runs."""
        return self._interval_s

    @property
    def we_refresh(self) -> bool:
        """True when we are the refresher."""
        return self._interval_s is not None and self._we_refresh

    @property
    def active(self) -> bool:
        """True when a session timer was negotiated."""
        return self._interval_s is not None

    # -- as the UAC of a refresh request (§7) -----------------------------------------

    def request_headers(self) -> list[tuple[str, str]]:
        """Session-Expires and Min-SE for an INVITE, re-INVITE or UPDATE we send (§7.1, §7.4).

        ``Supported: timer`` is the session's business (it lists every extension).
        """
        if self._interval_s is not None:
            role = Refresher.UAC if self._we_refresh else Refresher.UAS
            expires = SessionExpires(max(self._interval_s, self._min_se_s), role)
        elif self._config.enabled:
            expires = SessionExpires(max(self._config.interval_s, self._min_se_s))
        else:
            return []
        return [("Session-Expires", str(expires)), ("Min-SE", str(self._min_se_s))]

    def on_success(self, request: SipRequest, response: SipResponse, now: float) -> None:
        """Read the 2xx to our refresh request and restart the timer (§7.2)."""
        expires = _session_expires(response)
        self._retries = 0
        if expires is not None:
            self._interval_s = expires.interval_s
            self._we_refresh = expires.refresher is not Refresher.UAS
        else:
            asked = _session_expires(request)
            if asked is None:
                self._stop()
                return
            self._interval_s = asked.interval_s
            self._we_refresh = True
        self.restart(now)

    def on_too_small(self, response: SipResponse) -> bool:
        """Read a 422 (§7.3): raise our Min-SE; True when the request should be retried."""
        min_se = _min_se(response)
        self._retries += 1
        if min_se is None or self._retries > MAX_422_RETRIES:
            return False
        self._min_se_s = max(self._min_se_s, min_se)
        if self._interval_s is not None and self._interval_s < self._min_se_s:
            self._interval_s = self._min_se_s
        return True

    # -- as the UAS of a refresh request (§9) -----------------------------------------

    def check_request(self, request: SipRequest) -> int | None:
        """Our Min-SE when the request must get 422 Session Interval Too Small, else None."""
        expires = _session_expires(request)
        if expires is None or not _supports_timer(request):
            return None
        if expires.interval_s < self._config.min_se_s:
            return self._config.min_se_s
        return None

    def response_headers(self, request: SipRequest, now: float) -> list[tuple[str, str]]:
        """Session-Expires (and Require: timer) for our 2xx to a refresh request; starts the timer.

        Call :meth:`check_request` first.  Table 2 of §9 picks the refresher.
        """
        supported = _supports_timer(request)
        asked = _session_expires(request)
        floor = max(_min_se(request) or 0, ABSOLUTE_MIN_SE_S)
        if asked is not None:
            interval = asked.interval_s
        elif self._config.enabled:
            interval = max(self._config.interval_s, floor)
        else:
            self._stop()
            return []
        if not supported:
            refresher = Refresher.UAS
        elif asked is not None and asked.refresher is not None:
            refresher = asked.refresher
        else:
            refresher = self._config.uas_refresher
        self._interval_s = interval
        self._we_refresh = refresher is Refresher.UAS
        self.restart(now)
        headers = [("Session-Expires", str(SessionExpires(interval, refresher)))]
        if supported:
            headers.append(("Require", "timer"))
        return headers

    # -- timers (§10) ------------------------------------------------------------------

    def restart(self, now: float) -> None:
        """A refresh succeeded at ``now``: arm the refresh (or the expiry) deadline."""
        interval = self._interval_s
        if interval is None:
            return
        self._expires_at = now + interval - expiry_margin_s(interval)
        self._refresh_at = now + interval / 2 if self._we_refresh else None

    def _stop(self) -> None:
        self._interval_s = None
        self._refresh_at = self._expires_at = None

    def stop(self) -> None:
        """No timer any more (the dialog ended)."""
        self._stop()

    def get_timer(self) -> float | None:
        """The next deadline, or None."""
        if self._refresh_at is not None:
            return self._refresh_at
        return self._expires_at

    def handle_timer(self, now: float) -> RefreshDue | SessionExpired | None:
        """The event whose deadline passed at ``now``, if any.

        After :class:`RefreshDue` the expiry deadline stays armed: if the
        refresh does not succeed in time, :class:`SessionExpired` follows.
        """
        interval = self._interval_s
        if interval is None:
            return None
        if self._refresh_at is not None and now >= self._refresh_at:
            self._refresh_at = None
            return RefreshDue(interval)
        if self._expires_at is not None and now >= self._expires_at:
            self._stop()
            return SessionExpired(interval)
        return None
