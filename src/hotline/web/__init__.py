"""L4: the web layer (FastAPI): REST API, live events, pages, health and metrics.

The application is built by :func:`hotline.web.app.create_web_app`; docs/web.md
says how to add a route or a page, write the audit log and add texts.
"""
