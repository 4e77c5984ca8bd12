"""``signed_body_url``: a link, valid for a while and needing no API key, to a request's bodies.

Helicone keeps bodies in object storage and hands out presigned URLs to a ``{request, response}``
JSON object; its export script and MCP server fetch them. Heliograph keeps bodies in the database, so
the link points back at this server and carries an HMAC-signed token naming the organization and the
request (see signed_urls.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from heliograph.services.errors import NotFound
from heliograph.services.request_view import body_json
from heliograph.services.signed_urls import UrlSigner
from heliograph.storage import request_repo

PURPOSE = "request-body"
PATH_PREFIX = "/v1/signed/request-body/"


class SignedBodies:
    def __init__(self, engine: sa.Engine, signer: UrlSigner, *, ttl_seconds: int) -> None:
        self._engine = engine
        self._signer = signer
        self._ttl = ttl_seconds

    def path(self, organization_id: int, request_id: str) -> str:
        """The server-relative path of the link to one request's bodies."""
        token = self._signer.sign(PURPOSE, {"o": organization_id, "r": request_id}, self._ttl)
        return PATH_PREFIX + token

    def bodies(self, token: str) -> dict[str, Any]:
        """``{request, response}`` of the request the token names (InvalidToken, NotFound)."""
        claims = self._signer.verify(PURPOSE, token)
        organization_id, request_id = claims.get("o"), claims.get("r")
        try:
            parsed = uuid.UUID(request_id) if isinstance(request_id, str) else None
        except ValueError:
            parsed = None
        if not isinstance(organization_id, int) or parsed is None:
            raise NotFound("the link names no request")
        with self._engine.connect() as conn:
            found = request_repo.get_requests(conn, organization_id, [parsed], with_bodies=True)
        if not found:
            raise NotFound("the request of this link no longer exists")
        return {"request": body_json(found[0].request_body), "response": body_json(found[0].response_body)}
