"""The Prompt API over HTTP (helicone-api.md sections 2.3 and 6): every endpoint, its envelope, status
codes and errors, on both dialects."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.http import auth

TEMPLATE = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": 'You write about <helicone-prompt-input key="topic" />.'},
        {
            "role": "user",
            "content": 'In <helicone-prompt-input key="words" /> words, for <helicone-prompt-input key="audience" />.',
        },
    ],
}


class Api:
    """A thin caller: the route, the key, and the (status, body) pair back."""

    def __init__(self, client: TestClient, key: str) -> None:
        self.client = client
        self.headers = auth(key)

    def call(self, method: str, path: str, json: Any = None) -> tuple[int, Any]:
        response = self.client.request(method, path, json=json, headers=self.headers)
        return response.status_code, (response.json() if response.content else None)

    def create(self, name: str = "blog", template: Any = None, metadata: Any = None) -> dict[str, str]:
        body = {"userDefinedId": name, "prompt": template or TEMPLATE, "metadata": metadata or {}}
        status, payload = self.call("POST", "/v1/prompt/create", body)
        assert status == 201, payload
        data: dict[str, str] = payload["data"]
        return data

    def subversion(self, version_id: str, template: Any = None, **extra: Any) -> dict[str, Any]:
        body = {"newHeliconeTemplate": template or TEMPLATE, **extra}
        status, payload = self.call("POST", f"/v1/prompt/version/{version_id}/subversion", body)
        assert status == 201, payload
        data: dict[str, Any] = payload["data"]
        return data

    def versions(self, prompt_id: str, **body: Any) -> list[dict[str, Any]]:
        status, payload = self.call("POST", f"/v1/prompt/{prompt_id}/versions/query", body)
        assert status == 200, payload
        data: list[dict[str, Any]] = payload["data"]
        return data


@pytest.fixture
def api(client: TestClient, key: str) -> Api:
    return Api(client, key)


def _numbers(versions: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return sorted((v["major_version"], v["minor_version"]) for v in versions)


def test_create_then_read_a_prompt_and_its_first_version(api: Api) -> None:
    assert api.call("GET", "/v1/prompt/has-prompts") == (200, {"data": {"hasPrompts": False}, "error": None})
    created = api.create("blog", metadata={"team": "growth"})

    assert api.call("GET", "/v1/prompt/has-prompts")[1]["data"] == {"hasPrompts": True}
    status, payload = api.call(
        "POST", f"/v1/prompt/{created['id']}/query", {"timeFilter": {"start": "a", "end": "b"}}
    )
    assert status == 200
    prompt = payload["data"]
    assert prompt["id"] == created["id"]
    assert prompt["user_defined_id"] == "blog"
    assert prompt["major_version"] == 1
    assert prompt["latest_version_id"] == created["prompt_version_id"]
    assert prompt["latest_model_used"] == "gpt-4o-mini"
    assert prompt["versions"] == [created["prompt_version_id"]]
    assert prompt["last_used"] is None
    assert prompt["metadata"] == {"team": "growth", "createdFromUi": True}

    status, payload = api.call("GET", f"/v1/prompt/version/{created['prompt_version_id']}")
    version = payload["data"]
    assert status == 200
    assert (version["major_version"], version["minor_version"]) == (1, 0)
    assert version["prompt_v2"] == created["id"]
    assert version["helicone_template"] == TEMPLATE
    assert version["metadata"] == {"provider": "OPENAI", "isProduction": True}
    assert version["parent_prompt_version"] is None
    assert version["created_at"].endswith("Z")


def test_prompt_names_are_unique_per_organization(api: Api, client: TestClient, make_key) -> None:  # type: ignore[no-untyped-def]
    api.create("blog")
    status, payload = api.call(
        "POST", "/v1/prompt/create", {"userDefinedId": "blog", "prompt": TEMPLATE, "metadata": {}}
    )
    assert status == 409
    assert "already exists" in payload["error"]
    # Another organization may use the same name.
    other = Api(client, make_key(org="other"))
    other.create("blog")


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"userDefinedId": "", "prompt": TEMPLATE, "metadata": {}}, 400, "must not be empty"),
        ({"userDefinedId": "x" * 129, "prompt": TEMPLATE, "metadata": {}}, 400, "at most 128"),
        ({"userDefinedId": "ok", "prompt": "just text", "metadata": {}}, 400, "JSON object"),
        ({"userDefinedId": "ok", "prompt": TEMPLATE}, 422, "metadata"),
        ({"userDefinedId": "ok", "prompt": TEMPLATE, "metadata": {}, "extra": 1}, 422, "extra"),
    ],
)
def test_create_rejects_bad_bodies(api: Api, body: dict[str, Any], status: int, fragment: str) -> None:
    got_status, payload = api.call("POST", "/v1/prompt/create", body)
    assert got_status == status
    assert fragment in str(payload)
    assert api.call("GET", "/v1/prompt/has-prompts")[1]["data"] == {"hasPrompts": False}


def test_query_prompts_filters_searches_and_pages_newest_first(api: Api) -> None:
    ids = [api.create(name)["id"] for name in ("alpha", "beta", "gamma")]
    status, payload = api.call("POST", "/v1/prompt/query", {"filter": "all"})
    assert status == 200
    assert [p["user_defined_id"] for p in payload["data"]] == ["gamma", "beta", "alpha"]
    assert {p["major_version"] for p in payload["data"]} == {1}

    by_name = {"filter": {"prompt_v2": {"user_defined_id": {"equals": "beta"}}}}
    assert [p["id"] for p in api.call("POST", "/v1/prompt/query", by_name)[1]["data"]] == [ids[1]]
    either = {
        "filter": {
            "left": {"prompt_v2": {"id": {"equals": ids[0]}}},
            "operator": "or",
            "right": {"prompt_v2": {"user_defined_id": {"contains": "amm"}}},
        }
    }
    assert [p["id"] for p in api.call("POST", "/v1/prompt/query", either)[1]["data"]] == [ids[2], ids[0]]
    page = api.call("POST", "/v1/prompt/query", {"filter": "all", "search": "A", "offset": 1, "limit": 1})[1]
    assert [p["user_defined_id"] for p in page["data"]] == ["beta"]


def test_query_prompts_hides_implicit_prompts_and_rejects_bad_filters(api: Api) -> None:
    api.create("hidden", metadata={"promptFromRequest": "true"})
    api.create("visible")
    assert [
        p["user_defined_id"] for p in api.call("POST", "/v1/prompt/query", {"filter": "all"})[1]["data"]
    ] == ["visible"]
    status, payload = api.call(
        "POST", "/v1/prompt/query", {"filter": {"prompt_v2": {"name": {"equals": "x"}}}}
    )
    assert status == 400
    assert "unknown filter field 'prompt_v2.name'" in payload["error"]
    status, payload = api.call("POST", "/v1/prompt/query", {"filter": {"request": {"id": {"equals": "x"}}}})
    assert status == 400


def test_subversion_numbering_follows_helicone(api: Api) -> None:
    created = api.create()
    first = created["prompt_version_id"]
    minor = api.subversion(first, metadata={"note": "tweak"})
    assert (minor["major_version"], minor["minor_version"]) == (1, 1)
    assert minor["parent_prompt_version"] == first
    assert minor["metadata"] == {"note": "tweak", "isProduction": False}
    assert api.subversion(first)["minor_version"] == 2  # highest minor of major 1, plus one
    major = api.subversion(first, isMajorVersion=True)
    assert (major["major_version"], major["minor_version"]) == (2, 0)
    bumped = api.subversion(first, bumpForMajorPromptVersionId=major["id"])
    assert (bumped["major_version"], bumped["minor_version"]) == (2, 1)
    status, payload = api.call(
        "POST", f"/v1/prompt/version/{first}/subversion-from-ui", {"newHeliconeTemplate": {"model": "gpt-4o"}}
    )
    assert status == 200
    assert (payload["data"]["major_version"], payload["data"]["minor_version"]) == (1, 3)
    assert payload["data"]["model"] == "gpt-4o"
    assert _numbers(api.versions(created["id"])) == [(1, 0), (1, 1), (1, 2), (1, 3), (2, 0), (2, 1)]
    # The prompt's latest version is the highest number.
    prompt = api.call("POST", f"/v1/prompt/{created['id']}/query", {})[1]["data"]
    assert prompt["latest_version_id"] == bumped["id"]
    assert prompt["major_version"] == 2
    assert len(prompt["versions"]) == 6


def test_subversion_errors(api: Api, client: TestClient, make_key) -> None:  # type: ignore[no-untyped-def]
    created = api.create()
    other_prompt = api.create("other")
    path = f"/v1/prompt/version/{created['prompt_version_id']}/subversion"
    status, payload = api.call(
        "POST",
        path,
        {"newHeliconeTemplate": TEMPLATE, "bumpForMajorPromptVersionId": other_prompt["prompt_version_id"]},
    )
    assert status == 400
    assert "same prompt" in payload["error"]
    status, payload = api.call(
        "POST", path, {"newHeliconeTemplate": TEMPLATE, "experimentId": str(uuid.uuid4())}
    )
    assert status == 404
    assert "experiment" in payload["error"]
    assert api.call("POST", path, {})[0] == 422
    missing = f"/v1/prompt/version/{uuid.uuid4()}/subversion"
    assert api.call("POST", missing, {"newHeliconeTemplate": TEMPLATE})[0] == 404
    assert api.call("POST", "/v1/prompt/version/not-a-uuid/subversion", {"newHeliconeTemplate": {}})[0] == 400


def test_versions_query_filters_and_hides_experiment_versions(api: Api) -> None:
    created = api.create()
    first = created["prompt_version_id"]
    api.subversion(first, isMajorVersion=True)
    experimental = api.subversion(first, metadata={"experimentAssigned": "true"})
    assert _numbers(api.versions(created["id"])) == [(1, 0), (2, 0)]
    assert _numbers(api.versions(created["id"], includeExperimentVersions=True)) == [(1, 0), (1, 1), (2, 0)]
    only_major_2 = {"prompts_versions": {"major_version": {"equals": 2}}}
    assert _numbers(api.versions(created["id"], filter=only_major_2)) == [(2, 0)]
    by_id = {"prompts_versions": {"id": {"equals": experimental["id"]}}}
    assert _numbers(api.versions(created["id"], filter=by_id, includeExperimentVersions=True)) == [(1, 1)]
    status, payload = api.call(
        "POST",
        f"/v1/prompt/{created['id']}/versions/query",
        {"filter": {"prompts_versions": {"major_version": {"equals": "x"}}}},
    )
    assert status == 400
    assert "invalid number" in payload["error"]
    assert api.call("POST", f"/v1/prompt/{uuid.uuid4()}/versions/query", {})[0] == 404


def test_promote_moves_production_atomically(api: Api) -> None:
    created = api.create()
    first = created["prompt_version_id"]
    second = api.subversion(first)["id"]
    status, payload = api.call(
        "POST", f"/v1/prompt/version/{second}/promote", {"previousProductionVersionId": first}
    )
    assert status == 201
    assert payload["data"]["id"] == second
    assert payload["data"]["metadata"]["isProduction"] is True
    flags = {v["id"]: v["metadata"]["isProduction"] for v in api.versions(created["id"])}
    assert flags == {first: False, second: True}

    # A stale view of production is refused instead of silently overwritten.
    status, payload = api.call(
        "POST", f"/v1/prompt/version/{first}/promote", {"previousProductionVersionId": first}
    )
    assert status == 409
    assert "not the production version" in payload["error"]
    # Promoting the production version again changes nothing.
    assert (
        api.call("POST", f"/v1/prompt/version/{second}/promote", {"previousProductionVersionId": second})[0]
        == 201
    )
    assert (
        api.call("POST", f"/v1/prompt/version/{first}/promote", {"previousProductionVersionId": second})[0]
        == 201
    )
    assert {v["id"] for v in api.versions(created["id"]) if v["metadata"]["isProduction"]} == {first}
    assert api.call("POST", f"/v1/prompt/version/{first}/promote", {})[0] == 422


def test_edit_label_and_template(api: Api) -> None:
    created = api.create()
    version = created["prompt_version_id"]
    status, payload = api.call("POST", f"/v1/prompt/version/{version}/edit-label", {"label": "launch"})
    assert status == 201
    assert payload["data"] == {"metadata": {"provider": "OPENAI", "label": "launch", "isProduction": True}}
    assert api.call("POST", f"/v1/prompt/version/{version}/edit-label", {"label": ""})[0] == 400
    assert api.call("POST", f"/v1/prompt/version/{version}/edit-label", {"label": "x" * 101})[0] == 400

    new_template = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": '<helicone-prompt-input key="q" />'}],
    }
    status, payload = api.call(
        "POST", f"/v1/prompt/version/{version}/edit-template", {"heliconeTemplate": new_template}
    )
    assert (status, payload) == (201, {"data": None, "error": None})
    stored = api.call("GET", f"/v1/prompt/version/{version}")[1]["data"]
    assert stored["helicone_template"] == new_template
    assert stored["model"] == "gpt-4o"
    assert stored["metadata"]["label"] == "launch"
    compiled = api.call("POST", "/v1/prompt/blog/compile", {"inputs": {"q": "why?"}})[1]["data"]
    assert compiled["prompt_compiled"]["messages"] == [{"role": "user", "content": "why?"}]
    status, payload = api.call(
        "POST",
        f"/v1/prompt/version/{version}/edit-template",
        {"heliconeTemplate": {}, "experimentId": str(uuid.uuid4())},
    )
    assert status == 404
    assert "experiment" in payload["error"]


def test_delete_version_refuses_production_and_hides_others(api: Api) -> None:
    created = api.create()
    first = created["prompt_version_id"]
    second = api.subversion(first)["id"]
    status, payload = api.call("DELETE", f"/v1/prompt/version/{first}")
    assert status == 400
    assert payload["error"] == "Cannot delete production version"
    assert api.call("DELETE", f"/v1/prompt/version/{second}") == (200, {"data": None, "error": None})
    assert api.call("GET", f"/v1/prompt/version/{second}")[0] == 404
    assert api.call("DELETE", f"/v1/prompt/version/{second}")[0] == 404
    # A deleted version's number is never handed out again.
    assert api.subversion(first)["minor_version"] == 2
    assert _numbers(api.versions(created["id"])) == [(1, 0), (1, 2)]


def test_rename_prompt(api: Api) -> None:
    created = api.create("old")
    api.create("taken")
    path = f"/v1/prompt/{created['id']}/user-defined-id"
    assert api.call("PATCH", path, {"userDefinedId": "taken"})[0] == 409
    assert api.call("PATCH", path, {"userDefinedId": "new"}) == (200, {"data": None, "error": None})
    assert api.call("POST", "/v1/prompt/new/compile", {"inputs": {}})[0] == 200
    assert api.call("POST", "/v1/prompt/old/compile", {"inputs": {}})[0] == 404
    assert api.call("PATCH", path, {"userDefinedId": "new"})[0] == 200  # its own name is fine
    assert api.call("PATCH", f"/v1/prompt/{uuid.uuid4()}/user-defined-id", {"userDefinedId": "x"})[0] == 404
    assert api.call("PATCH", path, {"userDefinedId": " "})[0] == 400


def test_delete_prompt_removes_versions_and_frees_the_name(api: Api) -> None:
    created = api.create()
    api.subversion(created["prompt_version_id"])
    status, body = api.call("DELETE", f"/v1/prompt/{created['id']}")
    assert (status, body) == (204, None)
    assert api.call("POST", f"/v1/prompt/{created['id']}/query", {})[0] == 404
    assert api.call("GET", f"/v1/prompt/version/{created['prompt_version_id']}")[0] == 404
    assert api.call("DELETE", f"/v1/prompt/{created['id']}")[0] == 404
    assert api.call("GET", "/v1/prompt/has-prompts")[1]["data"] == {"hasPrompts": False}
    api.create()  # the name is free again


def test_compile_and_template_fill_the_production_version(api: Api) -> None:
    created = api.create()
    api.subversion(
        created["prompt_version_id"], template={"model": "gpt-4o", "messages": []}
    )  # not production
    inputs = {"topic": "owls", "words": "50", "audience": "kids"}
    status, payload = api.call("POST", "/v1/prompt/blog/compile", {"inputs": inputs})
    assert status == 200
    data = payload["data"]
    assert data["id"] == created["prompt_version_id"]
    assert (data["major_version"], data["minor_version"], data["model"]) == (1, 0, "gpt-4o-mini")
    assert data["prompt_compiled"]["messages"] == [
        {"role": "system", "content": "You write about owls."},
        {"role": "user", "content": "In 50 words, for kids."},
    ]
    assert data["missing_inputs"] == []
    assert data["unused_inputs"] == []
    status, payload = api.call("POST", "/v1/prompt/blog/template", {"inputs": inputs})
    assert status == 200
    assert payload["data"]["filled_helicone_template"] == data["prompt_compiled"]
    assert "prompt_compiled" not in payload["data"]


def test_compile_reports_missing_and_unused_inputs_and_strict_refuses_them(api: Api) -> None:
    api.create()
    status, payload = api.call(
        "POST", "/v1/prompt/blog/compile", {"inputs": {"topic": "owls", "tone": "dry"}}
    )
    assert status == 200
    data = payload["data"]
    assert data["prompt_compiled"]["messages"][1]["content"] == "In  words, for ."  # Helicone: missing is ""
    assert data["missing_inputs"] == ["audience", "words"]
    assert data["unused_inputs"] == ["tone"]
    status, payload = api.call(
        "POST", "/v1/prompt/blog/compile", {"inputs": {"topic": "owls", "tone": "dry"}, "strict": True}
    )
    assert status == 400
    assert "'audience'" in payload["error"]
    assert "'words'" in payload["error"]
    assert "'tone'" in payload["error"]
    full = {"topic": "a", "words": "b", "audience": "c"}
    assert api.call("POST", "/v1/prompt/blog/compile", {"inputs": full, "strict": True})[0] == 200


def test_compile_errors(api: Api) -> None:
    assert api.call("POST", "/v1/prompt/nothing/compile", {"inputs": {}})[0] == 404
    api.create()
    assert api.call("POST", "/v1/prompt/blog/compile", {})[0] == 422
    assert api.call("POST", "/v1/prompt/blog/compile", {"inputs": {"topic": 5}})[0] == 422
    no_match = {"inputs": {}, "filter": {"prompts_versions": {"major_version": {"equals": 9}}}}
    status, payload = api.call("POST", "/v1/prompt/blog/compile", no_match)
    assert status == 404
    assert "no production version" in payload["error"]
    bad_filter = {"inputs": {}, "filter": {"prompts_versions": {"nope": {"equals": 1}}}}
    assert api.call("POST", "/v1/prompt/blog/compile", bad_filter)[0] == 400


def test_version_inputs_and_experiments_of_a_fresh_prompt(api: Api) -> None:
    created = api.create()
    status, payload = api.call(
        "POST", f"/v1/prompt/version/{created['prompt_version_id']}/inputs/query", {"limit": 10}
    )
    assert (status, payload) == (201, {"data": [], "error": None})
    assert api.call("POST", f"/v1/prompt/version/{uuid.uuid4()}/inputs/query", {"limit": 10})[0] == 404
    assert api.call("POST", f"/v1/prompt/version/{created['prompt_version_id']}/inputs/query", {})[0] == 422
    assert api.call("GET", f"/v1/prompt/{created['id']}/experiments") == (200, {"data": [], "error": None})
    assert api.call("GET", f"/v1/prompt/{uuid.uuid4()}/experiments")[0] == 404


def test_read_only_keys_cannot_change_prompts(api: Api, client: TestClient, make_key) -> None:  # type: ignore[no-untyped-def]
    created = api.create()
    version = created["prompt_version_id"]
    reader = Api(client, make_key(permissions="r"))
    writes = [
        ("POST", "/v1/prompt/create", {"userDefinedId": "x", "prompt": TEMPLATE, "metadata": {}}),
        ("PATCH", f"/v1/prompt/{created['id']}/user-defined-id", {"userDefinedId": "y"}),
        ("DELETE", f"/v1/prompt/{created['id']}", None),
        ("POST", f"/v1/prompt/version/{version}/edit-label", {"label": "l"}),
        ("POST", f"/v1/prompt/version/{version}/edit-template", {"heliconeTemplate": {}}),
        ("POST", f"/v1/prompt/version/{version}/subversion", {"newHeliconeTemplate": {}}),
        ("POST", f"/v1/prompt/version/{version}/subversion-from-ui", {"newHeliconeTemplate": {}}),
        ("POST", f"/v1/prompt/version/{version}/promote", {"previousProductionVersionId": version}),
        ("DELETE", f"/v1/prompt/version/{version}", None),
    ]
    for method, path, body in writes:
        status, payload = reader.call(method, path, body)
        assert status == 401, (method, path)
        assert "may not write" in payload["error"]
    # Reads work, and nothing changed.
    assert reader.call("POST", "/v1/prompt/blog/compile", {"inputs": {}})[0] == 200
    assert _numbers(reader.versions(created["id"])) == [(1, 0)]
    assert api.call("POST", "/v1/prompt/query", {"filter": "all"})[1]["data"][0]["user_defined_id"] == "blog"


def test_no_prompt_route_reaches_another_organization(api: Api, client: TestClient, make_key) -> None:  # type: ignore[no-untyped-def]
    created = api.create()
    version = created["prompt_version_id"]
    other = Api(client, make_key(org="intruder"))
    assert other.call("GET", "/v1/prompt/has-prompts")[1]["data"] == {"hasPrompts": False}
    assert other.call("POST", "/v1/prompt/query", {"filter": "all"})[1]["data"] == []
    not_found = [
        ("POST", f"/v1/prompt/{created['id']}/query", {}),
        ("POST", f"/v1/prompt/{created['id']}/versions/query", {}),
        ("GET", f"/v1/prompt/{created['id']}/experiments", None),
        ("GET", f"/v1/prompt/version/{version}", None),
        ("POST", f"/v1/prompt/version/{version}/inputs/query", {"limit": 5}),
        ("POST", "/v1/prompt/blog/compile", {"inputs": {}}),
        ("POST", "/v1/prompt/blog/template", {"inputs": {}}),
        ("PATCH", f"/v1/prompt/{created['id']}/user-defined-id", {"userDefinedId": "mine"}),
        ("DELETE", f"/v1/prompt/{created['id']}", None),
        ("POST", f"/v1/prompt/version/{version}/edit-label", {"label": "l"}),
        ("POST", f"/v1/prompt/version/{version}/edit-template", {"heliconeTemplate": {}}),
        ("POST", f"/v1/prompt/version/{version}/subversion", {"newHeliconeTemplate": {}}),
        ("POST", f"/v1/prompt/version/{version}/promote", {"previousProductionVersionId": version}),
        ("DELETE", f"/v1/prompt/version/{version}", None),
    ]
    for method, path, body in not_found:
        assert other.call(method, path, body)[0] == 404, (method, path)
    # The owner's prompt is untouched.
    prompt = api.call("POST", f"/v1/prompt/{created['id']}/query", {})[1]["data"]
    assert (prompt["user_defined_id"], prompt["versions"]) == ("blog", [version])
    assert api.call("GET", f"/v1/prompt/version/{version}")[1]["data"]["metadata"] == {
        "provider": "OPENAI",
        "isProduction": True,
    }


def test_prompt_routes_need_a_key(client: TestClient) -> None:
    response = client.get("/v1/prompt/has-prompts")
    assert response.status_code == 401
    assert response.json()["trace"] == "isAuthenticated.error"


def test_names_with_a_slash_compile(api: Api) -> None:
    created = api.create("team/blog")
    status, payload = api.call("POST", "/v1/prompt/team/blog/compile", {"inputs": {"topic": "owls"}})
    assert status == 200
    assert payload["data"]["id"] == created["prompt_version_id"]
    assert api.call("POST", "/v1/prompt/team%2Fblog/template", {"inputs": {}})[0] == 200


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("path_kind", "body_kind"),
    [
        ("create", "bigint-metadata"),
        ("create", "deep-template"),
        ("edit", "deep-template"),
        ("edit", "bigint-template"),
        ("subversion", "bigint-metadata"),
    ],
)
def test_documents_json_cannot_store_are_400(api: Api, path_kind: str, body_kind: str) -> None:
    version = api.create()["prompt_version_id"]
    template: Any = {**TEMPLATE, "extra": _nested(300)} if body_kind == "deep-template" else TEMPLATE
    if body_kind == "bigint-template":
        template = {**TEMPLATE, "seed": 10**30}
    metadata = {"n": 10**30} if body_kind == "bigint-metadata" else {}
    if path_kind == "create":
        status, payload = api.call(
            "POST", "/v1/prompt/create", {"userDefinedId": "other", "prompt": template, "metadata": metadata}
        )
    elif path_kind == "edit":
        status, payload = api.call(
            "POST", f"/v1/prompt/version/{version}/edit-template", {"heliconeTemplate": template}
        )
    else:
        body = {"newHeliconeTemplate": template, "metadata": metadata}
        status, payload = api.call("POST", f"/v1/prompt/version/{version}/subversion", body)
    assert status == 400, payload
    assert "cannot be stored" in payload["error"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_numbers_json_storage_would_turn_into_null_are_400(api: Api, number: str) -> None:
    """orjson writes NaN and infinities as null: a template must not lose its values silently."""
    body = '{"userDefinedId": "n", "prompt": {"model": "m", "temperature": ' + number + '}, "metadata": {}}'
    response = api.client.post(
        "/v1/prompt/create", content=body, headers={**api.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert "temperature" in response.json()["error"]
    assert api.call("GET", "/v1/prompt/has-prompts")[1]["data"] == {"hasPrompts": False}


def test_nul_characters_never_reach_the_database(api: Api) -> None:
    template = {
        "model": "gpt\x00-4o",
        "messages": [{"role": "user", "content": '<helicone-prompt-input key="a\x00b" />'}],
    }
    created = api.create("nul", template)
    version = api.call("GET", f"/v1/prompt/version/{created['prompt_version_id']}")[1]["data"]
    assert version["model"] == "gpt-4o"
    assert version["helicone_template"] == template  # the JSON document keeps it, escaped
    assert api.call("POST", "/v1/prompt/a%00b/compile", {"inputs": {}})[0] == 400
    assert api.call("POST", "/v1/prompt/query", {"filter": "all", "search": "a\x00"})[0] == 400


def test_invalid_inputs_too_big_to_echo_are_still_422(api: Api) -> None:
    version = api.create()["prompt_version_id"]
    status, payload = api.call("POST", f"/v1/prompt/version/{version}/inputs/query", {"limit": 10**30})
    assert status == 422
    assert "limit" in str(payload["details"])
    status, payload = api.call("POST", "/v1/prompt/blog/compile", {"inputs": {"a": _nested(300)}})
    assert status == 422
    assert len(str(payload)) < 5000  # described, not echoed whole


def test_promote_checks_the_previous_id_even_when_nothing_changes(api: Api) -> None:
    version = api.create()["prompt_version_id"]
    path = f"/v1/prompt/version/{version}/promote"
    assert api.call("POST", path, {"previousProductionVersionId": "not-a-uuid"})[0] == 400
    assert api.call("POST", path, {"previousProductionVersionId": ""})[0] == 201


@pytest.mark.parametrize("name", [".", ".."])
def test_dot_names_are_refused(api: Api, name: str) -> None:
    status, payload = api.call(
        "POST", "/v1/prompt/create", {"userDefinedId": name, "prompt": TEMPLATE, "metadata": {}}
    )
    assert status == 400
    assert "URL path" in payload["error"]
