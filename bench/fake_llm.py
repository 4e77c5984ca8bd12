"""A fast fake OpenAI-compatible provider for the gateway benchmark (aiohttp, one process).

``python bench/fake_llm.py PORT [DELAY_MS]``. ``x-bench-delay-ms`` (else ``DELAY_MS``, for calls the
server makes itself, which carry no header of the benchmark's choosing) sets the service time: for JSON calls the
whole answer waits that long, for streams the first chunk does (the rest follow at once), so the
benchmark sees both latency and time to first byte. Streams end with a usage chunk when
``stream_options.include_usage`` is set, as OpenAI's do.
"""

from __future__ import annotations

import asyncio
import json
import sys

from aiohttp import web

ANSWER = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1_750_000_000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "The answer is 4. " * 8},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 42, "completion_tokens": 48, "total_tokens": 90},
}
BODY = json.dumps(ANSWER).encode()
_BASE = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": ANSWER["model"]}
CHUNKS = [
    json.dumps({**_BASE, "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]})
    for word in ("The answer is 4. " * 8).split()
]
DEFAULT_DELAY_MS = sys.argv[2] if len(sys.argv) > 2 else "0"
USAGE_CHUNK = json.dumps({**_BASE, "choices": [], "usage": ANSWER["usage"]})


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    delay = int(request.headers.get("x-bench-delay-ms", DEFAULT_DELAY_MS)) / 1000
    if delay:
        await asyncio.sleep(delay)
    if not body.get("stream"):
        return web.Response(body=BODY, content_type="application/json")
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    for chunk in CHUNKS:
        await response.write(f"data: {chunk}\n\n".encode())
    if (body.get("stream_options") or {}).get("include_usage"):
        await response.write(f"data: {USAGE_CHUNK}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def main() -> None:
    import uvloop

    uvloop.install()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)


if __name__ == "__main__":
    main()
