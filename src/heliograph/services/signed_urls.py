"""Expiring HMAC-signed tokens: the one signing helper for links the server hands out.

A token is ``<claims>.<signature>``, both base64url: the claims are a small JSON object with the
purpose and an expiry, the signature HMAC-SHA256 over the purpose-qualified claims with the server's
secret. The purpose is part of what is signed, so a token made for one kind of link (a request's
bodies) can never be replayed as another (a dataset row, a sign-in link).

The secret comes from ``HELIOGRAPH_SECRET_KEY``, or is generated once into ``<data_dir>/secret-key``
(mode 0600), so links stay valid across restarts; processes that share a database must share it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

import orjson

from heliograph.clock import Clock
from heliograph.settings import Settings

SECRET_FILE_NAME = "secret-key"


class InvalidToken(Exception):
    """The token is malformed, forged, made for another purpose, or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class UrlSigner:
    def __init__(self, secret: bytes, *, clock: Clock) -> None:
        if len(secret) < 16:
            raise ValueError("the signing secret must have at least 16 bytes")
        self._secret = secret
        self._clock = clock

    def _mac(self, purpose: str, claims: str) -> bytes:
        return hmac.new(self._secret, f"{purpose}\n{claims}".encode(), hashlib.sha256).digest()

    def sign(self, purpose: str, claims: dict[str, Any], ttl_seconds: int) -> str:
        """A token carrying ``claims`` for ``purpose``, valid for ``ttl_seconds`` from now."""
        expires = self._clock() // 1000 + ttl_seconds
        encoded = _b64(orjson.dumps({**claims, "exp": expires}))
        return f"{encoded}.{_b64(self._mac(purpose, encoded))}"

    def verify(self, purpose: str, token: str) -> dict[str, Any]:
        """The claims of a genuine, unexpired token for ``purpose``, else :class:`InvalidToken`."""
        encoded, _, signature = token.partition(".")
        try:
            given = _unb64(signature)
            claims = orjson.loads(_unb64(encoded))
        except (ValueError, orjson.JSONDecodeError) as exc:
            raise InvalidToken("the link is malformed") from exc
        if not hmac.compare_digest(given, self._mac(purpose, encoded)) or not isinstance(claims, dict):
            raise InvalidToken("the link's signature is not valid")
        expires = claims.get("exp")
        if not isinstance(expires, int) or expires * 1000 <= self._clock():
            raise InvalidToken("the link has expired")
        return claims


def server_secret(settings: Settings) -> bytes:
    """The configured secret, else the one in the data directory (created on first use)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    path = settings.data_dir / SECRET_FILE_NAME
    if not path.exists():
        _create_secret_file(path)
    return path.read_text().strip().encode()


def _create_secret_file(path: Path) -> None:
    """Write a new secret to a private temporary file, then link it into place: the link fails if
    another process got there first, so two processes starting at once end up with the same secret,
    and no reader ever sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
