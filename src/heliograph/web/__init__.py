"""The server-rendered web UI under ``/ui``: Jinja2 templates, vendored htmx and uPlot, and page handlers
that read the same services as the REST API (never the API over HTTP, never SQL of their own)."""
