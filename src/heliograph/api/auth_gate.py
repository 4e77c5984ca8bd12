"""The key gate: a route that needs a key checks it before anything reads the request's body.

FastAPI reads and parses a body before it runs a route's dependencies, so an auth dependency alone
lets a caller without a key (or with a read-only key on a write route) make the server read its whole
body. So the check runs at whichever comes first:

* the app's first read of the body: the body bound (``body_limit.py``) calls :class:`KeyGate` before
  it takes a byte off the connection. By then the router has picked the route (``scope["route"]``);
  what it needs is read from the auth dependencies in its dependency tree (:data:`KEY_NEEDS`, filled
  by ``auth.py``). A refusal is raised from ``receive`` as :class:`KeyRefused`, which FastAPI's body
  parsing passes on to the error handler;
* the route's auth dependency, for a route that reads its body itself, after its dependencies.

Either way the verdict is kept in the scope, so the key is checked once, and a verified key raises the
body limit from the unauthenticated one to ``max_body_bytes``. New routes are covered by declaring
their auth the usual way (``ReadAuth``, ``WriteAuth``, ...): there is no list of paths.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import Scope

from heliograph.api.body_limit import allow
from heliograph.api.errors import ApiError
from heliograph.services.keys import AuthContext, KeyVerifier

AUTH_SCOPE_KEY = "heliograph.auth"


class KeySource(enum.Enum):
    """Where a route looks for the caller's key."""

    #: ``Authorization`` (Helicone's API), else ``helicone-authorization``.
    API = "api"
    #: ``Helicone-Auth`` first, as Helicone's worker does, where ``Authorization`` may hold a provider
    #: key; then the API headers.
    LOGGER = "logger"


MISSING_KEY = {
    KeySource.API: "missing API key: send 'Authorization: Bearer <key>'",
    KeySource.LOGGER: "missing API key: send 'Authorization: Bearer <key>' or 'Helicone-Auth: Bearer <key>'",
}
_PERMISSION_NAMES = {"r": "read", "w": "write"}


@dataclass(frozen=True, slots=True)
class KeyNeed:
    """What a route needs: a key from ``source`` (unless ``optional``) with these permissions."""

    source: KeySource
    optional: bool = False
    permissions: frozenset[str] = frozenset()

    def merge(self, other: KeyNeed) -> KeyNeed:
        return KeyNeed(self.source, self.optional and other.optional, self.permissions | other.permissions)


#: Auth dependencies and what each needs; a route's needs are those of the dependencies it uses.
KEY_NEEDS: dict[Callable[..., Any], KeyNeed] = {}


# Both bases name their optional headers ``headers`` (a dict / a Mapping); a refusal has none.
class KeyRefused(ApiError, HTTPException):
    """401. An ``ApiError`` (answered in the envelope, with Helicone's ``trace``) that is also an
    ``HTTPException``, so FastAPI's body parsing lets it through when it is raised from ``receive``."""

    def __init__(self, message: str) -> None:
        HTTPException.__init__(self, 401, message)
        self.status = 401
        self.message = message
        self.extra = {"trace": "isAuthenticated.error"}


def presented_key(source: KeySource, headers: Mapping[str, str]) -> tuple[str, str]:
    """(the key presented for ``source``, the header it came in); ``("", "")`` when there is none."""
    if source is KeySource.LOGGER:
        helicone_auth = headers.get("helicone-auth", "").strip()
        if helicone_auth:
            return helicone_auth, "Helicone-Auth"
    header = headers.get("authorization")
    if header:
        return header, "Authorization"
    # Helicone's alternative header: a JSON object {"_type": "bearer", "token": "..."}.
    alternative = headers.get("helicone-authorization")
    if alternative:
        try:
            parsed = orjson.loads(alternative)
        except orjson.JSONDecodeError:
            return alternative, "helicone-authorization"
        token = parsed.get("token") if isinstance(parsed, dict) else None
        if isinstance(token, str):
            return token, "helicone-authorization"
    return "", ""


def check_key(need: KeyNeed, headers: Mapping[str, str], verifier: KeyVerifier) -> AuthContext | None:
    """The caller's verified key, or None when it sent none and ``need`` is optional; else 401."""
    presented, header = presented_key(need.source, headers)
    if not presented:
        if need.optional:
            return None
        raise KeyRefused(MISSING_KEY[need.source])
    auth = verifier.verify(presented)
    if auth is None:
        where = " in Helicone-Auth" if header == "Helicone-Auth" else ""
        raise KeyRefused(f"invalid or revoked API key{where}")
    for permission in sorted(need.permissions):
        permit(auth, permission)
    return auth


def permit(auth: AuthContext, permission: str) -> None:
    if permission not in auth.permissions:
        raise KeyRefused(
            f"this API key may not {_PERMISSION_NAMES[permission]} (permissions: {auth.permissions})"
        )


def route_needs(route: Any) -> dict[KeySource, KeyNeed]:
    """What a route needs, merged over every auth dependency in its tree (empty: no key)."""
    needs: dict[KeySource, KeyNeed] = {}
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return needs
    for call in _dependency_calls(dependant):
        need = KEY_NEEDS.get(call)
        if need is not None:
            known = needs.get(need.source)
            needs[need.source] = need if known is None else known.merge(need)
    return needs


def _dependency_calls(dependant: Any) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _dependency_calls(sub)


def verify_route(scope: Scope, verifier: KeyVerifier) -> dict[KeySource, AuthContext | None]:
    """The verified callers of the request's route, per key source (checked once per request)."""
    verified: dict[KeySource, AuthContext | None] | None = scope.get(AUTH_SCOPE_KEY)
    if verified is not None:
        return verified
    route = scope.get("route")
    needs = route_needs(route) if route is not None else {}
    headers = Headers(scope=scope)
    verified = {source: check_key(need, headers, verifier) for source, need in needs.items()}
    scope[AUTH_SCOPE_KEY] = verified
    if any(auth is not None for auth in verified.values()):
        allow(scope)
    return verified


class KeyGate:
    """Called by the body bound before the first read of a body."""

    __slots__ = ("_verifier",)

    def __init__(self, verifier: KeyVerifier) -> None:
        self._verifier = verifier

    def __call__(self, scope: Scope) -> None:
        verify_route(scope, self._verifier)
