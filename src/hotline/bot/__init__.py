"""The voice assistant: speech ports and dialogue turns (L1), engine adapters (L3).

Speech synthesis: ``normalize`` and ``norm_*`` (Russian text into words, pure),
``tts`` (the engine port, settings, errors), ``tts_engines`` (espeak-ng and
festival adapters, L3), ``prompt_cache`` (render-once files and streaming, L3).
"""
