"""The voice assistant: speech ports and dialogue turns (L1), engine adapters (L3)."""
