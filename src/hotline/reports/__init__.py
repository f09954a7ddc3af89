"""Metrics as pure functions over events (L1); exports and the Situational Centre feed (L4)."""
