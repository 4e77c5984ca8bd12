"""Every operation that reads a body declares what the edge answers for any body (``body_limit.py``,
``body.py``): 408 too slow, 413 too large, 415 an unknown Content-Encoding, 503 the budget of buffered
bodies spent (with Retry-After). Walks the served document, so routes added later are held to it; the
e2e tests (test_body_limits.py, test_body_pace.py, test_json_bodies.py) show the server answering each."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

EDGE_ERRORS = {"408", "413", "415", "503"}


def test_every_operation_with_a_body_declares_the_edge_answers(client: TestClient) -> None:
    document: dict[str, Any] = client.get("/openapi.json").json()
    with_body = [
        (f"{method.upper()} {path}", operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    ]
    assert len(with_body) >= 20
    for where, operation in with_body:
        responses = operation["responses"]
        assert set(responses) >= EDGE_ERRORS, f"{where}: {sorted(responses)}"
        assert "Retry-After" in responses["503"]["headers"], where
        assert "HELIOGRAPH_MAX_BUFFERED_BODY_BYTES" in responses["503"]["description"], where
        assert "HELIOGRAPH_MAX_JSON_BODY_BYTES" in responses["413"]["description"], where
