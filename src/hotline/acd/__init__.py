"""Automatic call distribution: a pure, deterministic router (L1) and its service (L3)."""
