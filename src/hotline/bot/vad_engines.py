"""The VAD engine chosen by settings, with webrtcvad as the fallback (L3 wiring helper).

:func:`create_vad` builds one :class:`~hotline.bot.vad.ScoredVad` per call
leg (:class:`hotline.calls.bot_detectors.DetectorPool` keeps them, reset, between calls).  Silero is the default engine; when it cannot be loaded (a broken wheel,
an unsupported CPU) the detector falls back to webrtcvad, logs why once per
detector, and says so in :attr:`~hotline.bot.vad.ScoredVad.engine`.  Only when
both fail does it raise :class:`~hotline.bot.vad.VadEngineUnavailableError`.
"""

from __future__ import annotations

import structlog

from hotline.bot.vad import (
    FrameScorer,
    ScoredVad,
    VadConfig,
    VadEngine,
    VadEngineUnavailableError,
)
from hotline.bot.vad_silero import SileroScorer
from hotline.bot.vad_webrtc import WebrtcScorer

__all__ = ["create_scorer", "create_vad"]

log = structlog.get_logger("hotline.bot.vad")


def create_scorer(engine: VadEngine, *, webrtc_mode: int = 3) -> FrameScorer:
    """A fresh frame scorer of ``engine`` (no fallback)."""
    if engine is VadEngine.SILERO:
        return SileroScorer()
    return WebrtcScorer(mode=webrtc_mode)


def create_vad(
    engine: VadEngine | str = VadEngine.SILERO,
    config: VadConfig | None = None,
    *,
    webrtc_mode: int = 3,
    fallback: bool = True,
) -> ScoredVad:
    """A detector for one stream: ``engine``, else webrtcvad when ``fallback``."""
    chosen = VadEngine(engine)
    try:
        return ScoredVad(create_scorer(chosen, webrtc_mode=webrtc_mode), config, engine=chosen)
    except VadEngineUnavailableError as exc:
        if not fallback or chosen is VadEngine.WEBRTC:
            raise
        log.warning("vad.fallback", engine=str(chosen), fallback="webrtc", reason=str(exc))
    return ScoredVad(WebrtcScorer(mode=webrtc_mode), config, engine=VadEngine.WEBRTC)
