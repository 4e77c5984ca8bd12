"""``Heliograph`` (sync) and ``AsyncHeliograph``: small Python clients of the Heliograph API.

Both take the API key (default: ``HELIOGRAPH_API_KEY``), the server URL (default:
``HELIOGRAPH_BASE_URL`` or ``http://127.0.0.1:8585``), and either an httpx transport or a whole httpx
client to send through, so tests and applications can route calls however they like.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx

from heliograph.client import calls
from heliograph.client.calls import Call, CompiledPrompt, HeliographError

T = TypeVar("T")
DEFAULT_BASE_URL = "http://127.0.0.1:8585"


def _settings(api_key: str | None, base_url: str | None) -> tuple[dict[str, str], str]:
    key = api_key if api_key is not None else os.environ.get("HELIOGRAPH_API_KEY", "")
    if not key:
        raise ValueError("no API key: pass api_key=... or set HELIOGRAPH_API_KEY")
    url = base_url or os.environ.get("HELIOGRAPH_BASE_URL") or DEFAULT_BASE_URL
    return {"Authorization": f"Bearer {key}"}, url.rstrip("/")


class Heliograph:
    """Synchronous client. Use it as a context manager, or call ``close()``."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._headers, url = _settings(api_key, base_url)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(base_url=url, transport=transport, timeout=timeout)
        self._base_url = "" if http_client is not None and base_url is None else url
        self.prompts = Prompts(self)
        self.requests = Requests(self)

    def run(self, call: Call[T]) -> T:
        response = self._http.request(
            call.method, self._base_url + call.path, json=call.body, params=call.params, headers=self._headers
        )
        return calls.read_response(response, call)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Heliograph:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class Prompts:
    def __init__(self, client: Heliograph) -> None:
        self._run = client.run

    def compile(self, name: str, inputs: Mapping[str, str], *, strict: bool = False) -> CompiledPrompt:
        """The production version of prompt ``name`` filled with ``inputs``; with ``strict``, missing or
        unused inputs raise ``HeliographError`` (400) instead of compiling to ""."""
        return self._run(calls.compile_prompt(name, inputs, strict=strict))

    def get(self, prompt: str) -> dict[str, Any]:
        """A prompt by its name (user-defined id) or its id, with its latest version and version ids."""
        return self._run(calls.get_prompt(_prompt_id(self._run, prompt)))

    def query(
        self, *, search: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[dict[str, Any]]:
        return self._run(calls.list_prompts(search=search, limit=limit, offset=offset))

    def create(self, name: str, template: Any, metadata: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Create prompt ``name`` with version 1.0 (production); returns ``id`` and ``prompt_version_id``."""
        return self._run(calls.create_prompt(name, template, metadata))

    def versions(self, prompt: str) -> list[dict[str, Any]]:
        return self._run(calls.prompt_versions(_prompt_id(self._run, prompt)))

    def create_version(self, parent_version_id: str, template: Any, *, major: bool = False) -> dict[str, Any]:
        return self._run(calls.create_version(parent_version_id, template, major=major))

    def promote(self, version_id: str, previous_production_version_id: str) -> dict[str, Any]:
        return self._run(calls.promote(version_id, previous_production_version_id))

    def inputs(self, version_id: str, limit: int = 100) -> list[dict[str, Any]]:
        return self._run(calls.version_inputs(version_id, limit))


class Requests:
    def __init__(self, client: Heliograph) -> None:
        self._run = client.run

    def query(
        self, filter: Any = "all", *, limit: int = 100, offset: int = 0, sort: Any = None
    ) -> list[dict[str, Any]]:
        """Logged requests matching a Helicone filter tree, newest first unless ``sort`` says otherwise."""
        return self._run(calls.query_requests(filter, limit=limit, offset=offset, sort=sort))

    def get(self, request_id: str, *, include_body: bool = False) -> dict[str, Any] | None:
        return self._run(calls.get_request(request_id, include_body=include_body))

    def inputs(self, request_id: str) -> dict[str, Any] | None:
        """The prompt inputs a request used (``inputs``, ``prompt_id``, ``version_id``), or None."""
        return self._run(calls.request_inputs(request_id))


def _prompt_id(run: Any, prompt: str) -> str:
    # A name first: a prompt may well be named like a UUID. Prompts hidden from the list (metadata
    # promptFromRequest or emptyPrompt) are found by id only.
    found = run(calls.find_prompt(prompt))
    return _chosen_id(prompt, found)


def _chosen_id(prompt: str, found: dict[str, Any] | None) -> str:
    if found is not None:
        return str(found["id"])
    if calls.is_uuid(prompt):
        return prompt
    raise HeliographError(404, f"prompt {prompt!r} not found")


class AsyncHeliograph:
    """Asynchronous client (``async with AsyncHeliograph(...) as client``)."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._headers, url = _settings(api_key, base_url)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(base_url=url, transport=transport, timeout=timeout)
        self._base_url = "" if http_client is not None and base_url is None else url
        self.prompts = AsyncPrompts(self)
        self.requests = AsyncRequests(self)

    async def run(self, call: Call[T]) -> T:
        response = await self._http.request(
            call.method, self._base_url + call.path, json=call.body, params=call.params, headers=self._headers
        )
        return calls.read_response(response, call)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncHeliograph:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()


class AsyncPrompts:
    def __init__(self, client: AsyncHeliograph) -> None:
        self._run = client.run

    async def compile(self, name: str, inputs: Mapping[str, str], *, strict: bool = False) -> CompiledPrompt:
        return await self._run(calls.compile_prompt(name, inputs, strict=strict))

    async def get(self, prompt: str) -> dict[str, Any]:
        return await self._run(calls.get_prompt(await self._id(prompt)))

    async def query(
        self, *, search: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[dict[str, Any]]:
        return await self._run(calls.list_prompts(search=search, limit=limit, offset=offset))

    async def create(
        self, name: str, template: Any, metadata: Mapping[str, Any] | None = None
    ) -> dict[str, str]:
        return await self._run(calls.create_prompt(name, template, metadata))

    async def versions(self, prompt: str) -> list[dict[str, Any]]:
        return await self._run(calls.prompt_versions(await self._id(prompt)))

    async def create_version(
        self, parent_version_id: str, template: Any, *, major: bool = False
    ) -> dict[str, Any]:
        return await self._run(calls.create_version(parent_version_id, template, major=major))

    async def promote(self, version_id: str, previous_production_version_id: str) -> dict[str, Any]:
        return await self._run(calls.promote(version_id, previous_production_version_id))

    async def inputs(self, version_id: str, limit: int = 100) -> list[dict[str, Any]]:
        return await self._run(calls.version_inputs(version_id, limit))

    async def _id(self, prompt: str) -> str:
        return _chosen_id(prompt, await self._run(calls.find_prompt(prompt)))


class AsyncRequests:
    def __init__(self, client: AsyncHeliograph) -> None:
        self._run = client.run

    async def query(
        self, filter: Any = "all", *, limit: int = 100, offset: int = 0, sort: Any = None
    ) -> list[dict[str, Any]]:
        return await self._run(calls.query_requests(filter, limit=limit, offset=offset, sort=sort))

    async def get(self, request_id: str, *, include_body: bool = False) -> dict[str, Any] | None:
        return await self._run(calls.get_request(request_id, include_body=include_body))

    async def inputs(self, request_id: str) -> dict[str, Any] | None:
        return await self._run(calls.request_inputs(request_id))
