"""SDP (RFC 8866) and the offer/answer model (RFC 3264), as a sans-IO core.

Modules:

- :mod:`hotline.sdp.model`: the session description as frozen dataclasses,
  serialised with ``bytes(description)``, with typed views of ``a=rtpmap``,
  ``a=fmtp``, ``a=ptime``, ``a=rtcp`` and the direction attributes.
- :mod:`hotline.sdp.parser`: ``parse_sdp(data)`` with size and count limits.
- :mod:`hotline.sdp.codecs`: the RFC 3551 static payload types and the codecs
  Hotline speaks (PCMA, PCMU, RFC 4733 telephone-event).
- :mod:`hotline.sdp.negotiation`: ``build_offer``, ``answer_offer``,
  ``process_answer`` and :class:`~hotline.sdp.negotiation.NegotiatedMedia`.
- :mod:`hotline.sdp.session`: :class:`~hotline.sdp.session.LocalSdpSession`,
  which keeps our ``o=`` line across re-offers (hold, resume, re-INVITE).

Nothing is re-exported here: import from the module that defines a name.
"""

from __future__ import annotations

__all__: list[str] = []
