"""``heliograph.client`` against the app over HTTP: the sync client through an injected httpx client, the
async one through an injected ASGI transport, and the errors a caller meets."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient

from heliograph.client import AsyncHeliograph, CompiledPrompt, Heliograph, HeliographError
from support.http import auth
from support.otlp import export, openllmetry_chat, span

TEMPLATE = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": 'Tell me about <helicone-prompt-input key="topic" />.'}],
}


def test_sync_client_manages_and_compiles_prompts(client: TestClient, key: str) -> None:
    with Heliograph(api_key=key, http_client=client) as heliograph:
        created = heliograph.prompts.create("facts", TEMPLATE, {"owner": "docs"})
        compiled = heliograph.prompts.compile("facts", {"topic": "owls"})
        assert compiled == CompiledPrompt(
            version_id=created["prompt_version_id"],
            prompt_uuid=created["id"],
            major_version=1,
            minor_version=0,
            model="gpt-4o-mini",
            prompt={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me about owls."}]},
            missing_inputs=[],
            unused_inputs=[],
        )
        # A prompt by name or by id.
        assert heliograph.prompts.get("facts")["id"] == created["id"]
        assert heliograph.prompts.get(created["id"])["user_defined_id"] == "facts"
        assert [p["user_defined_id"] for p in heliograph.prompts.query(search="FAC")] == ["facts"]
        second = heliograph.prompts.create_version(created["prompt_version_id"], TEMPLATE, major=True)
        assert (second["major_version"], second["minor_version"]) == (2, 0)
        promoted = heliograph.prompts.promote(second["id"], created["prompt_version_id"])
        assert promoted["metadata"]["isProduction"] is True
        assert {v["id"] for v in heliograph.prompts.versions("facts")} == {
            created["prompt_version_id"],
            second["id"],
        }
        assert heliograph.prompts.compile("facts", {"topic": "x"}).version_id == second["id"]
        assert heliograph.prompts.inputs(second["id"]) == []


def test_sync_client_reports_errors(client: TestClient, key: str, make_key) -> None:  # type: ignore[no-untyped-def]
    with Heliograph(api_key=key, http_client=client) as heliograph:
        heliograph.prompts.create("facts", TEMPLATE)
        with pytest.raises(HeliographError) as strict:
            heliograph.prompts.compile("facts", {"tone": "dry"}, strict=True)
        assert strict.value.status == 400
        assert "'topic'" in strict.value.message
        assert "'tone'" in strict.value.message
        with pytest.raises(HeliographError) as missing:
            heliograph.prompts.get("nothing-by-that-name")
        assert missing.value.status == 404
        with pytest.raises(HeliographError) as taken:
            heliograph.prompts.create("facts", TEMPLATE)
        assert taken.value.status == 409
    with Heliograph(api_key=make_key(permissions="r"), http_client=client) as reader:
        with pytest.raises(HeliographError) as refused:
            reader.prompts.create("other", TEMPLATE)
        assert refused.value.status == 401
    with pytest.raises(ValueError, match="HELIOGRAPH_API_KEY"):
        Heliograph(api_key="")


def test_sync_client_reads_requests(client: TestClient, key: str) -> None:
    trace = export(span(openllmetry_chat()))
    assert client.post("/v1/trace/log", json=trace, headers=auth(key)).status_code == 200
    with Heliograph(api_key=key, http_client=client) as heliograph:
        [row] = heliograph.requests.query({"request_response_rmt": {"status": {"equals": 200}}})
        assert heliograph.requests.query({"request_response_rmt": {"status": {"equals": 500}}}) == []
        fetched = heliograph.requests.get(row["request_id"], include_body=True)
        assert fetched is not None
        assert fetched["request_id"] == row["request_id"]
        assert fetched["request_body"]
        assert heliograph.requests.get(str(uuid.uuid4())) is None
        assert heliograph.requests.inputs(row["request_id"]) is None


def test_async_client_through_an_injected_transport(client: TestClient, key: str) -> None:
    # The app is running (the TestClient started it); the async client calls it in-process.
    transport = httpx.ASGITransport(app=client.app)

    async def scenario() -> None:
        async with AsyncHeliograph(
            api_key=key, base_url="http://heliograph", transport=transport
        ) as heliograph:
            created = await heliograph.prompts.create("facts", TEMPLATE)
            compiled = await heliograph.prompts.compile("facts", {"topic": "bees", "extra": "1"})
            assert compiled.prompt["messages"][0]["content"] == "Tell me about bees."
            assert compiled.unused_inputs == ["extra"]
            assert (await heliograph.prompts.get("facts"))["id"] == created["id"]
            assert [p["id"] for p in await heliograph.prompts.query()] == [created["id"]]
            versions = await heliograph.prompts.versions(created["id"])
            assert [v["id"] for v in versions] == [created["prompt_version_id"]]
            assert await heliograph.requests.query() == []
            with pytest.raises(HeliographError) as missing:
                await heliograph.prompts.compile("nothing", {})
            assert missing.value.status == 404

    asyncio.run(scenario())


@pytest.mark.parametrize("name", ["deadbeefdeadbeefdeadbeefdeadbeef", "123e4567-e89b-12d3-a456-426614174000"])
def test_prompts_named_like_uuids_are_found_by_name(client: TestClient, key: str, name: str) -> None:
    with Heliograph(api_key=key, http_client=client) as heliograph:
        created = heliograph.prompts.create(name, TEMPLATE)
        assert heliograph.prompts.get(name)["id"] == created["id"]
        assert [v["id"] for v in heliograph.prompts.versions(name)] == [created["prompt_version_id"]]
        assert heliograph.prompts.get(created["id"])["user_defined_id"] == name
