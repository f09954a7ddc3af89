"""Helpers for tests that drive real peers (SIPp, baresip) on loopback."""
