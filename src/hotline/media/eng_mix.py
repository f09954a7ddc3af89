"""Supervisor monitoring of a bridged call: listen, whisper, barge.

A bridge of two legs relays packets without mixing.  When a supervisor joins,
the three legs go through a :class:`~hotline.media.mixer.Mixer` instead: each
leg's audio is pushed into it as it arrives, and every pacer tick sends each
leg its mix-minus frame on its own continuous stream.  The hearing matrix
follows :class:`~hotline.media.mixer.MonitorMode`.  When the supervisor
leaves, the engine bridges caller and operator again.
"""

from __future__ import annotations

from hotline.media.eng_leg import MediaLeg
from hotline.media.mixer import Mixer, MonitorMode

__all__ = ["MonitorSession"]


class MonitorSession:
    """Caller, operator and supervisor mixed for one monitored call."""

    __slots__ = ("_by_id", "caller", "mixer", "mode", "operator", "supervisor")

    def __init__(
        self, caller: MediaLeg, operator: MediaLeg, supervisor: MediaLeg, mode: MonitorMode
    ) -> None:
        self.caller = caller
        self.operator = operator
        self.supervisor = supervisor
        self.mode = mode
        self.mixer = Mixer()
        for leg in self.legs:
            self.mixer.add(leg.leg_id, leg.codec)
        self.mixer.set_monitor(supervisor.leg_id, operator.leg_id, mode)
        for leg in self.legs:
            leg.mixer = self.mixer
        self._by_id = {leg.leg_id: leg for leg in self.legs}

    @property
    def legs(self) -> tuple[MediaLeg, MediaLeg, MediaLeg]:
        return (self.caller, self.operator, self.supervisor)

    def set_mode(self, mode: MonitorMode) -> None:
        self.mode = mode
        self.mixer.set_monitor(self.supervisor.leg_id, self.operator.leg_id, mode)

    def tick(self, now: float) -> None:
        """One 20 ms mix, sent to every leg whose own frames do not own its stream."""
        for leg_id, payload in self.mixer.tick():
            leg = self._by_id[leg_id]
            if not leg.busy and not leg.closed:
                leg.send(leg.stream.frame(payload, now))

    def dissolve(self) -> None:
        """Detach the mixer from the legs (they neither relay nor mix afterwards)."""
        for leg in self.legs:
            leg.mixer = None
