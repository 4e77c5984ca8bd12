"""Serving under a sub-path (``root_path``, e.g. ``/heliograph``) behind a reverse proxy.

A proxy may forward ``/heliograph/ui/requests`` with the prefix stripped (nginx
``proxy_pass http://127.0.0.1:8585/;``) or kept (``proxy_pass http://127.0.0.1:8585;``), and an
operator may also call the server directly, without the prefix. Every request is served either way:
its scope is made what the ASGI specification says it is, ``root_path`` the prefix and ``path`` the
full path with the prefix. Starlette's router takes the prefix off again to match routes, and
everything built from the request (``request.url``, ``request.base_url``, the UI's links through
``web/identity.url_root``, the ``servers`` of ``/openapi.json``) carries it.

Why here and not uvicorn's ``--root-path``: uvicorn puts its root path in front of every path it
receives, so a proxy that keeps the prefix would give ``/heliograph/heliograph/...``; and a root path
in the settings reaches every process built from them, whatever server runs the app.

The gateway is a plain ASGI app that reads its own path (``gateway/proxy.py``): it gets the path
inside the prefix, exactly as a server without a root path would give it.
"""

from __future__ import annotations

from heliograph.gateway.asgi import Scope

#: The first path segments of the server's own routes (``metrics`` when it is enabled). A prefix
#: starting with one cannot be told apart from a path that came without it: under ``/v1``, the API's
#: ``/v1/request/query`` would be taken as ``/request/query`` inside the prefix (a 404), and a proxy
#: stripping ``/ui`` would leave the UI unreachable. Such a prefix is refused at start (settings.py).
SERVER_SEGMENTS = frozenset(
    {
        "ui",
        "v1",
        "v2",
        "static",
        "docs",
        "openapi.json",
        "healthcheck",
        "metrics",
        "custom",
        "oai",
        "anthropic",
        "googleapis",
    }
)


class RootPath:
    """The prefix of one app (``settings.root_path``, validated: unreserved characters only, so the
    percent-encoded ``raw_path`` starts with the same bytes)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._raw = prefix.encode("ascii")

    def enter(self, scope: Scope) -> str:
        """Give ``scope`` (this request's own, changed in place) the prefix as its ``root_path`` and
        its full path; the path inside the prefix, which routes match."""
        path: str = scope["path"]
        prefix = self.prefix
        if path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] == "/"):
            inside = path[len(prefix) :] or "/"
        else:
            inside = path
            scope["path"] = prefix + path
            raw = scope.get("raw_path")
            if raw is not None:
                scope["raw_path"] = self._raw + raw
        scope["root_path"] = prefix
        return inside

    def leave(self, scope: Scope, inside: str) -> None:
        """Undo :meth:`enter` for an app that reads the path itself (the gateway)."""
        scope["path"] = inside
        scope["root_path"] = ""
        raw = scope.get("raw_path")
        if raw is not None and raw.startswith(self._raw):
            scope["raw_path"] = raw[len(self._raw) :] or b"/"
