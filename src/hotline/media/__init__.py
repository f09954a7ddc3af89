"""Media engine (RTP/RTCP, G.711, DTMF, players, bridge, recording).

The packet-level cores in this package are sans-IO (layer L1): they take bytes
and ``now`` in and return data; the asyncio driver lives in ``media.engine``.

- :mod:`hotline.media.rtp`: RTP fixed header, CSRC, extension, padding (RFC 3550 §5.1).
- :mod:`hotline.media.rtcp`: SR, RR, SDES, BYE, compound packets (RFC 3550 §6).
- :mod:`hotline.media.seq`: sequence/timestamp wrap-around arithmetic (RFC 3550 A.1).
- :mod:`hotline.media.stats`: per-stream receive statistics and jitter (RFC 3550 §6.4.1, A.8).
- :mod:`hotline.media.latch`: symmetric RTP source latching (RFC 4961).
- :mod:`hotline.media.codecs`: G.711 A-law/µ-law by lookup tables and a codec registry.
- :mod:`hotline.media.dtmf`: RFC 4733 telephone-events in and out, SIP INFO DTMF bodies.
- :mod:`hotline.media.goertzel`: in-band DTMF detection.
- :mod:`hotline.media.tones`: Russian call-progress tones (425 Hz cadences) and silence.
- :mod:`hotline.media.prompts`: WAV prompts of any common format, resampled once, cached encoded.
- :mod:`hotline.media.player`: per-leg playback queues and the one-ticker ``PlayerSet``.
- :mod:`hotline.media.stream`: outgoing stream continuity across player/bridge switches.
- :mod:`hotline.media.mixer`: N-party mix-minus, supervisor listen/whisper/barge.
- :mod:`hotline.media.recorder`: stereo call recording aligned by RTP timestamps.
- :mod:`hotline.media.wav`: streaming WAV writing, header repair after a crash.
- :mod:`hotline.media.timeouts`: RTP inactivity detection.
"""
