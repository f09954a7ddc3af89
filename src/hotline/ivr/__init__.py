"""The voice menu: flows as data (L1 interpreter) and the runner (L3)."""
