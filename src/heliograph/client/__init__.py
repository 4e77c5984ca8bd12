"""Python clients of the Heliograph API: ``Heliograph`` (sync) and ``AsyncHeliograph``.

from heliograph.client import Heliograph

with Heliograph(api_key="sk-heliograph-...", base_url="http://127.0.0.1:8585") as client:
    compiled = client.prompts.compile("blog", {"topic": "owls"})
    rows = client.requests.query({"request_response_rmt": {"model": {"equals": "gpt-4o-mini"}}})
"""

from heliograph.client.calls import CompiledPrompt, HeliographError
from heliograph.client.clients import AsyncHeliograph, Heliograph

__all__ = ["AsyncHeliograph", "CompiledPrompt", "Heliograph", "HeliographError"]
