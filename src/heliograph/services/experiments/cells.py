"""Running one experiment cell (reference §7.2): an experiment row's inputs filled into a prompt version,
sent through the gateway's own path in process, logged in the organization with
``Helicone-Experiment-Id``, its request stored as the cell's output.

The provider is the price table's for the model (``gpt-4o`` -> openai, ``claude-…`` -> anthropic), else
the ``experiment_default_provider`` setting (Helicone sends every non-"gpt" model to OpenRouter), with the
server's key ``HELIOGRAPH_PROVIDER_KEY_<PROVIDER>``. A provider error is logged like any call and
reported as "Request failed" with the provider's status.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa

from heliograph.clock import Clock, IdFactory
from heliograph.pricing.prices import PriceTable
from heliograph.services.errors import NotFound
from heliograph.services.evaluators.inputs import EvaluationFailed, LlmCaller, ProviderFailed
from heliograph.services.evaluators.judge import CHAT_PATHS, to_anthropic
from heliograph.services.prompt_template import compile_template
from heliograph.storage import experiment_repo, prompt_repo

EXPERIMENT_PROPERTY = "Helicone-Experiment-Id"
#: How long a cell waits for the gateway to commit its call's log before storing the output.
LOG_WAIT_SECONDS = 10.0
# Options of a streamed call: a cell reads one JSON answer.
_STREAM_KEYS = ("stream", "stream_options")


class CellCaller(LlmCaller, Protocol):
    """The gateway caller (gateway/internal_calls.GatewayCaller) as a cell uses it: the judges' caller,
    which can also wait for a call's log to be committed."""

    async def logged(self, organization_id: int, request_id: str, timeout: float) -> bool: ...


#: Called in the transaction that stores a cell's output (organization, experiment, request id, the run
#: it belongs to): the runs queue the output's scorings there, so an output and its scorings exist together.
OutputHook = Callable[[sa.Connection, int, str, str, str | None], None]


class CellFailed(Exception):
    """The cell's call failed. ``status`` is the provider's status (or 400 for a call never made: no
    key, a body that is not a chat request); ``request_id`` the logged failed call, if there is one."""

    def __init__(
        self, message: str, *, status: int, request_id: str | None = None, retry: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id
        self.retry = retry


@dataclass(frozen=True, slots=True)
class CellPlan:
    experiment_id: str
    record_id: uuid.UUID
    version_id: uuid.UUID
    provider: str
    path: str
    body: dict[str, Any]


class CellRunner:
    def __init__(
        self,
        engine: sa.Engine,
        caller: CellCaller,
        prices: PriceTable,
        *,
        default_provider: str,
        clock: Clock,
        ids: IdFactory,
    ) -> None:
        self._engine = engine
        self._caller = caller
        self._prices = prices
        self._default_provider = default_provider
        self._clock = clock
        self._ids = ids
        self.on_output: OutputHook | None = None

    def plan(
        self,
        organization_id: int,
        experiment_id: str,
        version_id: str,
        record_id: str,
        *,
        missing_only: bool = False,
    ) -> CellPlan | None:
        """What a cell sends where; NotFound when the experiment, its row or its version is not there;
        with ``missing_only``, None when the cell has an output already (a queued cell run twice)."""
        with self._engine.connect() as conn:
            experiment = experiment_repo.find_experiment(conn, organization_id, experiment_id)
            if experiment is None:
                raise NotFound(f"experiment {experiment_id} not found")
            record = experiment_repo.find_row(
                conn, organization_id, experiment_id, _uuid(record_id, "inputRecordId")
            )
            if record is None:
                raise NotFound(f"row {record_id} is not in this experiment")
            version = prompt_repo.find_version(conn, organization_id, _uuid(version_id, "promptVersionId"))
            if version is None or str(version["experiment_id"]) != experiment_id:
                raise NotFound(f"prompt version {version_id} is not a hypothesis of this experiment")
            if missing_only and experiment_repo.cell_outputs(
                conn, organization_id, experiment_id, record_id=record["id"], version_id=version["id"]
            ):
                return None
        provider, path, body = self.compose(dict(version), record)
        return CellPlan(experiment_id, record["id"], version["id"], provider, path, body)

    def compose(
        self, version: Mapping[str, Any], record: Mapping[str, Any], *, model: str | None = None
    ) -> tuple[str, str, dict[str, Any]]:
        """(provider, path, body) of a cell: the version's template filled with the input record's inputs
        and auto inputs, ``model`` (a table hypothesis's) replacing the template's when given."""
        inputs = prompt_repo.load(record["inputs"], {})
        compiled = compile_template(
            prompt_repo.load(version["template"]),
            inputs if isinstance(inputs, dict) else {},
            prompt_repo.load(record["auto_inputs"], []),
        ).value
        if isinstance(compiled, dict) and model:
            compiled = {**compiled, "model": model}
        if not isinstance(compiled, dict) or not isinstance(compiled.get("model"), str):
            raise CellFailed("the prompt version is not a chat request body with a model", status=400)
        body = {key: value for key, value in compiled.items() if key not in _STREAM_KEYS}
        provider = self.provider_of(body["model"])
        if provider == "anthropic":
            body = anthropic_body(body)
        return provider, CHAT_PATHS[provider], body

    def provider_of(self, model: str) -> str:
        price = self._prices.find(None, model)
        route = price.provider.lower() if price is not None else ""
        return route if route in CHAT_PATHS else self._default_provider

    async def run(
        self,
        organization_id: int,
        experiment_id: str,
        version_id: str,
        record_id: str,
        *,
        missing_only: bool = False,
        run_id: str | None = None,
    ) -> str | None:
        """Run the cell and store its output; the logged request's id (None: ``missing_only`` and the
        cell has an output). Raises NotFound or CellFailed."""
        plan = await asyncio.to_thread(
            self.plan, organization_id, experiment_id, version_id, record_id, missing_only=missing_only
        )
        if plan is None:
            return None
        request_id = await self.call(organization_id, experiment_id, plan.provider, plan.path, plan.body)
        await asyncio.to_thread(self._store, organization_id, plan, uuid.UUID(request_id), run_id)
        return request_id

    async def call(
        self, organization_id: int, experiment_id: str, provider: str, path: str, body: dict[str, Any]
    ) -> str:
        """Send a composed cell through the gateway, tagged with its experiment; the logged request's
        id once its log is committed. Raises CellFailed."""
        try:
            reply = await self._caller.call(
                organization_id,
                provider=provider,
                path=path,
                body=body,
                properties={EXPERIMENT_PROPERTY: experiment_id},
            )
        except ProviderFailed as failed:
            await self._caller.logged(organization_id, failed.request_id, LOG_WAIT_SECONDS)
            raise CellFailed(
                str(failed),
                status=failed.status or 502,
                request_id=failed.request_id,
                retry=failed.status in (0, 408, 409, 429) or failed.status >= 500,
            ) from failed
        except EvaluationFailed as failed:  # no key for the provider, a reply that is not JSON
            raise CellFailed(str(failed), status=400) from failed
        await self._caller.logged(organization_id, reply.request_id, LOG_WAIT_SECONDS)
        return reply.request_id

    def _store(self, organization_id: int, plan: CellPlan, request_id: uuid.UUID, run_id: str | None) -> None:
        with self._engine.begin() as conn:
            # Removed while the call ran (the experiment, the row or the column): no output for it.
            if experiment_repo.find_experiment(conn, organization_id, plan.experiment_id) is None:
                raise NotFound(f"experiment {plan.experiment_id} was deleted while the cell ran")
            if experiment_repo.find_row(conn, organization_id, plan.experiment_id, plan.record_id) is None:
                raise NotFound(f"row {plan.record_id} was removed from the experiment while the cell ran")
            version = prompt_repo.find_version(conn, organization_id, plan.version_id)
            if version is None or str(version["experiment_id"]) != plan.experiment_id:
                raise NotFound(
                    f"version {plan.version_id} was removed from the experiment while the cell ran"
                )
            experiment_repo.put_output(
                conn,
                {
                    "id": str(self._ids()),
                    "experiment_id": plan.experiment_id,
                    "organization_id": organization_id,
                    "input_record_id": plan.record_id,
                    "prompt_version_id": plan.version_id,
                    "request_id": request_id,
                    "is_original": False,
                    "created_at": self._clock(),
                },
            )
            if self.on_output is not None:
                self.on_output(conn, organization_id, plan.experiment_id, str(request_id), run_id)


def anthropic_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Messages API body: as it is when it already is one (no system or developer messages, which
    Anthropic takes as ``system``), else converted from the OpenAI chat shape."""
    messages = body.get("messages")
    roles = {m.get("role") for m in messages if isinstance(m, dict)} if isinstance(messages, list) else set()
    if roles <= {"user", "assistant"}:
        return {"max_tokens": 1024, **body}
    return to_anthropic(dict(body))


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"{what} {value!r} not found") from None
