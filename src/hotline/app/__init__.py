"""L5: the composition root (settings, wiring, command line, lifespan)."""
