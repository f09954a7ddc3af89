"""L4: the web layer (FastAPI): REST API, live events, pages, health and metrics."""
