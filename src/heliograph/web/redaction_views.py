"""What the Settings page's Redaction section shows: the organization's policy as form rows, or the
rows a refused form sent (so nothing typed is lost), and a preview's outcome."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from heliograph.api.context import app_context
from heliograph.services.members import Principal
from heliograph.services.redaction.detectors import BUILT_IN

DETECTOR_LABELS = {
    "email": "E-mail addresses",
    "phone": "Phone numbers",
    "payment_card": "Payment card numbers (card prefix and Luhn check digit)",
    "api_key": "Provider secret keys (OpenAI, Anthropic, AWS, GitHub, Slack, Google, Stripe)",
    "bearer": "Bearer tokens, and Authorization or API-key values",
}


@dataclass(slots=True)
class RedactionForm:
    """The section's state: the stored policy, or what a refused form sent."""

    enabled: bool
    detectors: list[str]
    rules: list[dict[str, str]]
    version: int = 0
    preview_text: str = ""
    preview_result: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def redaction_section(
    request: Request, principal: Principal, given: RedactionForm | None = None
) -> dict[str, Any]:
    """The template context of ``settings/_redaction.html``."""
    form = given
    if form is None:
        policy = app_context(request).redaction.policy(principal.auth.organization_id)
        form = RedactionForm(
            enabled=policy.enabled,
            detectors=list(policy.detectors),
            rules=[{"name": rule.name, "pattern": rule.pattern} for rule in policy.custom_rules],
            version=policy.version,
        )
    return {
        "form": form,
        "detectors": [(name, DETECTOR_LABELS[name], name in form.detectors) for name in BUILT_IN],
        "can_write": principal.can_write,
    }


def preview_context(text: str, redacted: str | None) -> Mapping[str, Any]:
    return {"preview_text": text, "preview_result": redacted}
