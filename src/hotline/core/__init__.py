"""L0: clock, ids, events, the in-process bus and error base classes (stdlib only)."""
