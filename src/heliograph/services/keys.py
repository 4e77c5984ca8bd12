"""API keys: creation, first-start bootstrap and verification of presented keys."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from heliograph.clock import Clock, IdFactory
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.storage import keys_repo
from heliograph.storage.dialect import transaction_lock, write_transaction_start
from heliograph.storage.keys_repo import KeyRow, Organization

KEY_PREFIX = "sk-heliograph-"
PERMISSIONS = ("r", "w", "rw")
DEFAULT_ORGANIZATION = "default"
NAME_MAX_CHARS = 128
#: The advisory lock of the first-start bootstrap (PostgreSQL).
BOOTSTRAP_LOCK = "heliograph:bootstrap"


@dataclass(frozen=True, slots=True)
class AuthContext:
    """Who is calling: the organization every query is scoped to, and what the key may do."""

    organization_id: int
    organization_uuid: str
    key_id: int
    permissions: str

    @property
    def can_read(self) -> bool:
        return "r" in self.permissions

    @property
    def can_write(self) -> bool:
        return "w" in self.permissions


def generate_key() -> str:
    # 160 random bits, base32 so the key survives copy-paste, shells and URLs.
    body = base64.b32encode(secrets.token_bytes(20)).decode().lower().rstrip("=")
    return KEY_PREFIX + "-".join(body[i : i + 8] for i in range(0, len(body), 8))


def hash_key(presented: str) -> str:
    """Helicone's scheme: hex SHA-256 of "Bearer <key>", whatever prefix the caller sent."""
    key = presented.strip()
    if key[:7].lower() == "bearer ":
        key = key[7:].strip()
    return hashlib.sha256(f"Bearer {key}".encode()).hexdigest()


def create_key(
    engine: sa.Engine,
    *,
    organization: str,
    name: str,
    permissions: str,
    clock: Clock,
    ids: IdFactory,
) -> tuple[str, KeyRow]:
    """Create a key (and its organization if missing); returns the key, shown only this once."""
    with engine.begin() as conn:
        return _create_key(
            conn, organization=organization, name=name, permissions=permissions, clock=clock, ids=ids
        )


def _create_key(
    conn: sa.Connection,
    *,
    organization: str,
    name: str,
    permissions: str,
    clock: Clock,
    ids: IdFactory,
) -> tuple[str, KeyRow]:
    if permissions not in PERMISSIONS:
        raise ValueError(f"permissions must be one of {', '.join(PERMISSIONS)}, not {permissions!r}")
    for what, text in (("organization name", organization), ("key name", name)):
        # Both are indexed or shown in listings: short, printable, the same on both databases.
        if not text.strip() or len(text) > NAME_MAX_CHARS or "\x00" in text:
            raise ValueError(f"the {what} must be 1 to {NAME_MAX_CHARS} characters without NUL")
    key = generate_key()
    now = clock()
    org = keys_repo.find_organization(conn, organization)
    if org is None:
        org = keys_repo.create_organization(conn, organization, ids(), now)
    key_id = keys_repo.insert_key(
        conn,
        organization_id=org.id,
        name=name,
        key_hash=hash_key(key),
        key_prefix=key[: len(KEY_PREFIX) + 8],
        permissions=permissions,
        now=now,
    )
    return key, KeyRow(key_id, org, name, key[: len(KEY_PREFIX) + 8], permissions, now, None)


def bootstrap(engine: sa.Engine, data_dir: Path, *, clock: Clock, ids: IdFactory) -> str | None:
    """On an empty database, create organization ``default`` with an admin key.

    The key is written to ``<data-dir>/initial-api-key`` (mode 0600) and returned so the caller can
    print it once; later starts return None. Servers starting together on one database (several
    workers, several machines) check and create under one lock, so exactly one of them creates it.
    """
    with engine.connect() as conn:
        if keys_repo.count_organizations(conn) > 0:
            return None  # the usual start: no lock needed
    with engine.begin() as conn:
        dialect = conn.dialect.name
        write_transaction_start(conn, dialect)
        transaction_lock(conn, BOOTSTRAP_LOCK, dialect)
        if keys_repo.count_organizations(conn) > 0:
            return None
        key, _ = _create_key(
            conn, organization=DEFAULT_ORGANIZATION, name="admin", permissions="rw", clock=clock, ids=ids
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "initial-api-key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed.
    return key


#: Longest key text looked up. The keys this server issues are 49 characters ("Bearer " and spaces
#: around make 56 or so); anything much longer is no key of ours, and is refused without a lookup or
#: a cache entry, so arbitrary header text can neither cost a query nor fill the cache.
MAX_PRESENTED_KEY_CHARS = 256
#: Answers kept at most (about 200 bytes each: a digest, an answer, an expiry).
MAX_CACHED_KEYS = 10_000


class KeyVerifier:
    """Checks presented keys, caching answers briefly so the hot ingest path skips the database.

    A revoked key stops working within ``ttl_ms`` (the cache lifetime), even when revoked from another
    process. Refusals are cached too, so a misconfigured client repeating a wrong key does not cost a
    database query per call (a new key is random, so nobody presents it before it exists).

    The cache is keyed by a digest of the presented text, so an entry has a fixed size whatever was
    presented; entries leave when they expire (they are kept in expiry order: every entry lives
    ``ttl_ms``), and the oldest leave first past ``max_entries``.
    """

    def __init__(
        self, engine: sa.Engine, *, ttl_ms: int, clock: Clock, max_entries: int = MAX_CACHED_KEYS
    ) -> None:
        self._engine = engine
        self._ttl_ms = ttl_ms
        self._clock = clock
        self._max_entries = max_entries
        # Insertion order is expiry order, since every entry lives ttl_ms from its insertion.
        self._cache: OrderedDict[bytes, tuple[AuthContext | None, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Answers cached."""
        return len(self._cache)

    def verify(self, presented: str) -> AuthContext | None:
        if len(presented) > MAX_PRESENTED_KEY_CHARS or not presented.strip():
            return None
        now = self._clock()
        # A digest of the text as presented: a hit needs no normalising (hash_key) nor a query.
        cache_key = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
        cached = self._cache.get(cache_key)
        if cached is not None and cached[1] > now:
            return cached[0]
        digest = hash_key(presented)
        with self._engine.connect() as conn:
            row = keys_repo.find_active_key(conn, digest)
        context = None if row is None else _context(row.organization, row)
        with self._lock:
            self._cache[cache_key] = (context, now + self._ttl_ms)
            self._cache.move_to_end(cache_key)  # a refreshed entry expires last
            self._evict(now)
        return context

    def _evict(self, now: int) -> None:
        """Drop expired answers (the oldest first), and the oldest past the size bound."""
        cache = self._cache
        while cache:
            _, expires = next(iter(cache.values()))
            if len(cache) <= self._max_entries and expires > now:
                return
            cache.popitem(last=False)


def _context(org: Organization, row: KeyRow) -> AuthContext:
    return AuthContext(
        organization_id=org.id,
        organization_uuid=str(org.uuid),
        key_id=row.id,
        permissions=row.permissions,
    )


# --- an organization's keys, managed from the web UI (Settings) -------------------------------------


def organization_keys(engine: sa.Engine, organization_id: int) -> list[KeyRow]:
    """Every key of the organization, revoked ones included (oldest first)."""
    with engine.connect() as conn:
        return keys_repo.list_organization_keys(conn, organization_id)


def create_organization_key(
    engine: sa.Engine, organization_id: int, *, name: str, permissions: str, clock: Clock
) -> tuple[str, KeyRow]:
    """A new key of an existing organization; returns the key, shown only this once."""
    if permissions not in PERMISSIONS:
        raise InvalidInput(f"permissions must be one of {', '.join(PERMISSIONS)}, not {permissions!r}")
    if not name.strip() or len(name) > NAME_MAX_CHARS or "\x00" in name:
        raise InvalidInput(f"the key name must be 1 to {NAME_MAX_CHARS} characters without NUL")
    key = generate_key()
    with engine.begin() as conn:
        key_id = keys_repo.insert_key(
            conn,
            organization_id=organization_id,
            name=name,
            key_hash=hash_key(key),
            key_prefix=key[: len(KEY_PREFIX) + 8],
            permissions=permissions,
            now=clock(),
        )
        row = keys_repo.find_key(conn, key_id)
    assert row is not None
    return key, row


def revoke_organization_key(engine: sa.Engine, organization_id: int, key_id: int, *, clock: Clock) -> None:
    """Revoke a key of this organization. The API's key cache may trust it for up to
    ``key_cache_seconds`` more; a UI session signed in with it ends at once."""
    with engine.begin() as conn:
        if not keys_repo.revoke_organization_key(conn, organization_id, key_id, clock()):
            raise NotFound(f"no active key with id {key_id}")
