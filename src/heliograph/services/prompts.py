"""Prompt use cases (Helicone's legacy Prompt API, reference sections 2.3 and 6).

A prompt has versions numbered major.minor; at most one is production (a column of the prompt, so
promotion is one UPDATE). Writes that read before they write (numbering, renaming, promotion) run in a
transaction that holds the write lock (SQLite) or the prompt's row lock (PostgreSQL), so two clients can
never take the same version number; the unique constraint on the numbers backs that up.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from heliograph.clock import Clock, IdFactory
from heliograph.services import prompt_template
from heliograph.services.errors import Conflict, InvalidInput, NotFound
from heliograph.services.experiments.table_views import prompt_experiments
from heliograph.services.keys import AuthContext
from heliograph.services.prompt_versions import (
    storable,
    store_version,
    stored_meta,
    template_input_keys,
    template_model,
    template_shape_hash,
)
from heliograph.services.prompt_view import (
    input_record,
    is_experiment_version,
    is_hidden_prompt,
    prompts_result,
    version_identity,
    version_meta,
    version_result,
)
from heliograph.services.request_view import iso_ms
from heliograph.services.write_transactions import write_transaction
from heliograph.storage import experiment_repo, prompt_repo, request_repo
from heliograph.storage.prompt_filters import FilterError, prompt_filter_clause, prompt_version_filter_clause
from heliograph.storage.prompt_repo import Row, load

MAX_NAME_LENGTH = 128
MAX_LABEL_LENGTH = 100
_VERSION_LIST_LIMIT = 100


@dataclass(frozen=True, slots=True)
class SubversionParams:
    template: Any
    is_major: bool = False
    metadata: Mapping[str, Any] | None = None
    experiment_id: str | None = None
    bump_for_major_version_id: str | None = None


def parse_uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidInput(f"{what} must be a UUID, got {value!r}") from exc


def check_name(name: str, what: str = "userDefinedId") -> str:
    if not name.strip():
        raise InvalidInput(f"{what} must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{what} must be at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    if "\x00" in name:
        raise InvalidInput(f"{what} must not contain NUL characters")
    if name in (".", ".."):
        raise InvalidInput(f"{what} cannot be {name!r}: it would not survive in a URL path")
    return name


class PromptService:
    def __init__(self, engine: sa.Engine, *, clock: Clock, ids: IdFactory) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._clock = clock
        self._ids = ids

    def _write(self) -> AbstractContextManager[sa.Connection]:
        return write_transaction(self._engine, "the prompt changed concurrently; retry the request")

    def _prompt(self, conn: sa.Connection, auth: AuthContext, prompt_id: str, *, lock: bool = False) -> Row:
        found = prompt_repo.find_prompt(
            conn, auth.organization_id, parse_uuid(prompt_id, "promptId"), lock=lock
        )
        if found is None:
            raise NotFound(f"prompt {prompt_id} not found")
        return found

    def _version(self, conn: sa.Connection, auth: AuthContext, version_id: str) -> Row:
        parsed = parse_uuid(version_id, "promptVersionId")
        found = prompt_repo.find_version(conn, auth.organization_id, parsed)
        if found is None:
            raise NotFound(f"prompt version {version_id} not found")
        return found

    def _locked_version(self, conn: sa.Connection, auth: AuthContext, version_id: str) -> Row:
        """The version, read again after locking its prompt's row (PostgreSQL; SQLite callers already
        hold the write lock), so a concurrent promote or delete of the same prompt is seen."""
        version = self._version(conn, auth, version_id)
        prompt_repo.find_prompt(conn, auth.organization_id, version["prompt_id"], lock=True)
        current = prompt_repo.find_version(conn, auth.organization_id, version["id"])
        if current is None:
            raise NotFound(f"prompt version {version_id} not found")
        return current

    # --- prompts --------------------------------------------------------------------------------------

    def has_prompts(self, auth: AuthContext) -> dict[str, bool]:
        with self._engine.connect() as conn:
            return {"hasPrompts": prompt_repo.has_prompts(conn, auth.organization_id)}

    def query_prompts(
        self, auth: AuthContext, filter_node: Any, *, search: str | None, limit: int | None, offset: int
    ) -> list[dict[str, Any]]:
        where = self._filter(prompt_filter_clause, filter_node)
        if search is not None and "\x00" in search:
            raise InvalidInput("search must not contain NUL characters")
        with self._engine.connect() as conn:
            rows = prompt_repo.list_prompts(conn, auth.organization_id, where, search=search)
        visible = [prompts_result(row) for row in rows if not is_hidden_prompt(load(row["meta"], {}))]
        end = None if limit is None else offset + limit
        return visible[offset:end]

    def get_prompt(self, auth: AuthContext, prompt_id: str) -> dict[str, Any]:
        with self._engine.connect() as conn:
            prompt = self._prompt(conn, auth, prompt_id)
            versions = prompt_repo.list_versions(
                conn, auth.organization_id, sa.true(), prompt_id=prompt["id"], limit=_VERSION_LIST_LIMIT
            )
            latest = versions[0] if versions else None
            used = prompt_repo.last_used(conn, latest["id"]) if latest is not None else None
        return {
            "id": str(prompt["id"]),
            "user_defined_id": prompt["user_defined_id"],
            "description": prompt["description"],
            "pretty_name": prompt["pretty_name"],
            "major_version": latest["major_version"] if latest is not None else 0,
            "latest_version_id": str(latest["id"]) if latest is not None else None,
            "latest_model_used": latest["model"] if latest is not None else None,
            "created_at": iso_ms(prompt["created_at"]),
            "last_used": iso_ms(used),
            "versions": [str(row["id"]) for row in versions],
            "metadata": load(prompt["meta"], {}),
        }

    def create_prompt(
        self, auth: AuthContext, name: str, template: Any, metadata: Mapping[str, Any]
    ) -> dict[str, str]:
        check_name(name)
        if not isinstance(template, dict):
            raise InvalidInput("prompt must be a JSON object (a chat request body with model and messages)")
        storable(metadata, "metadata")
        prompt_id, version_id, now = self._ids(), self._ids(), self._clock()
        with self._write() as conn:
            if prompt_repo.find_prompt_by_name(conn, auth.organization_id, name) is not None:
                raise Conflict(f"a prompt named {name!r} already exists")
            meta = {**stored_meta(metadata), "createdFromUi": True}
            prompt_repo.insert_prompt(
                conn, prompt_id=prompt_id, organization_id=auth.organization_id, name=name, meta=meta, now=now
            )
            store_version(
                conn,
                version_id=version_id,
                prompt_id=prompt_id,
                organization_id=auth.organization_id,
                number=(1, 0),
                template=template,
                meta={"provider": "OPENAI"},
                now=now,
                what="prompt",
            )
            prompt_repo.set_production(conn, prompt_id, version_id)
        return {"id": str(prompt_id), "prompt_version_id": str(version_id)}

    def rename_prompt(self, auth: AuthContext, prompt_id: str, name: str) -> None:
        check_name(name)
        with self._write() as conn:
            prompt = self._prompt(conn, auth, prompt_id, lock=True)
            existing = prompt_repo.find_prompt_by_name(conn, auth.organization_id, name)
            if existing is not None and existing["id"] != prompt["id"]:
                raise Conflict(f"a prompt named {name!r} already exists")
            prompt_repo.rename_prompt(conn, auth.organization_id, prompt["id"], name)

    def delete_prompt(self, auth: AuthContext, prompt_id: str) -> None:
        parsed = parse_uuid(prompt_id, "promptId")
        with self._write() as conn:
            if not prompt_repo.delete_prompt(conn, auth.organization_id, parsed):
                raise NotFound(f"prompt {prompt_id} not found")

    def experiments(self, auth: AuthContext, prompt_id: str) -> list[dict[str, Any]]:
        with self._engine.connect() as conn:
            prompt = self._prompt(conn, auth, prompt_id)
            return prompt_experiments(conn, auth, str(prompt["id"]))

    # --- versions -------------------------------------------------------------------------------------

    def query_versions(
        self, auth: AuthContext, prompt_id: str, filter_node: Any, *, include_experiments: bool
    ) -> list[dict[str, Any]]:
        where = self._filter(prompt_version_filter_clause, filter_node)
        with self._engine.connect() as conn:
            prompt = self._prompt(conn, auth, prompt_id)
            rows = prompt_repo.list_versions(conn, auth.organization_id, where, prompt_id=prompt["id"])
        return [
            version_result(row)
            for row in rows
            if include_experiments or not is_experiment_version(load(row["meta"], {}))
        ]

    def get_version(self, auth: AuthContext, version_id: str) -> dict[str, Any]:
        with self._engine.connect() as conn:
            return version_result(self._version(conn, auth, version_id))

    def delete_version(self, auth: AuthContext, version_id: str) -> None:
        with self._write() as conn:
            version = self._locked_version(conn, auth, version_id)
            if version["production_version_id"] == version["id"]:
                raise InvalidInput("Cannot delete production version")
            prompt_repo.soft_delete_version(conn, version["id"], self._clock())

    def edit_label(self, auth: AuthContext, version_id: str, label: str) -> dict[str, Any]:
        if not 1 <= len(label) <= MAX_LABEL_LENGTH:
            raise InvalidInput(f"label must be 1 to {MAX_LABEL_LENGTH} characters, got {len(label)}")
        with self._write() as conn:
            version = self._locked_version(conn, auth, version_id)
            meta_json = prompt_repo.dump({**stored_meta(load(version["meta"], {})), "label": label})
            prompt_repo.update_version(conn, version["id"], meta=meta_json)
            return {"metadata": version_meta({**version, "meta": meta_json})}

    def edit_template(
        self, auth: AuthContext, version_id: str, template: Any, experiment_id: str | None
    ) -> None:
        document = storable(template, "heliconeTemplate")
        shape = template_shape_hash(template)
        now = self._clock()
        with self._write() as conn:
            version = self._locked_version(conn, auth, version_id)
            prompt_repo.update_version(
                conn,
                version["id"],
                template=document,
                shape_hash=shape,
                model=template_model(template),
                updated_at=now,
            )
            prompt_repo.replace_input_keys(conn, version["id"], template_input_keys(template), now)
            if experiment_id is not None:
                _join_experiment(conn, auth, experiment_id, template_input_keys(template))

    def create_subversion(
        self, auth: AuthContext, version_id: str, params: SubversionParams
    ) -> dict[str, Any]:
        storable(params.metadata, "metadata")
        new_id, now = self._ids(), self._clock()
        with self._write() as conn:
            parent = self._locked_version(conn, auth, version_id)
            store_version(
                conn,
                version_id=new_id,
                prompt_id=parent["prompt_id"],
                organization_id=auth.organization_id,
                number=self._subversion_number(conn, auth, parent, params),
                template=params.template,
                meta=stored_meta(params.metadata),
                now=now,
                parent_id=parent["id"],
                what="newHeliconeTemplate",
            )
            if params.experiment_id is not None:
                experiment = _join_experiment(
                    conn, auth, params.experiment_id, template_input_keys(params.template)
                )
                experiment_repo.set_version_experiment(conn, new_id, experiment)
            return version_result(self._version(conn, auth, str(new_id)))

    def _subversion_number(
        self, conn: sa.Connection, auth: AuthContext, parent: Row, params: SubversionParams
    ) -> tuple[int, int]:
        prompt_id = parent["prompt_id"]
        if params.bump_for_major_version_id and params.bump_for_major_version_id != str(parent["id"]):
            other = self._version(conn, auth, params.bump_for_major_version_id)
            if other["prompt_id"] != prompt_id:
                raise InvalidInput("bumpForMajorPromptVersionId must be a version of the same prompt")
            return other["major_version"], prompt_repo.next_minor(conn, prompt_id, other["major_version"])
        if params.is_major:
            return prompt_repo.next_major(conn, prompt_id), 0
        return parent["major_version"], prompt_repo.next_minor(conn, prompt_id, parent["major_version"])

    def promote(self, auth: AuthContext, version_id: str, previous_id: str) -> dict[str, Any]:
        previous = parse_uuid(previous_id, "previousProductionVersionId") if previous_id else None
        with self._write() as conn:
            version = self._locked_version(conn, auth, version_id)
            production = version["production_version_id"]
            if production != version["id"]:
                expected = _expected_production(previous, production)
                if not prompt_repo.set_production(
                    conn, version["prompt_id"], version["id"], expected=expected
                ):
                    raise Conflict("the production version changed meanwhile; reload and promote again")
            return version_result(self._version(conn, auth, version_id))

    # --- inputs and compile ---------------------------------------------------------------------------

    def version_inputs(
        self, auth: AuthContext, version_id: str, *, limit: int, shuffle: bool
    ) -> list[dict[str, Any]]:
        if limit < 0:
            raise InvalidInput("limit must not be negative")
        with self._engine.connect() as conn:
            version = self._version(conn, auth, version_id)
            rows = prompt_repo.input_records(
                conn, auth.organization_id, version["id"], limit=limit, shuffle=shuffle
            )
            request_ids = [row["request_id"] for row in rows if row["request_id"] is not None]
            stored = request_repo.get_requests(conn, auth.organization_id, request_ids, with_bodies=True)
        bodies = {item.row["id"]: item for item in stored}
        out = []
        for row in rows:
            found = bodies.get(row["request_id"])
            if found is None:
                out.append(input_record(row))
            else:
                out.append(input_record(row, _json(found.request_body), _json(found.response_body)))
        return out

    def request_inputs(self, auth: AuthContext, request_id: uuid.UUID) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            row = prompt_repo.request_inputs(conn, auth.organization_id, request_id)
        if row is None:
            return None
        return {
            "inputs": load(row["inputs"], {}),
            "prompt_id": row["user_defined_id"],
            "version_id": str(row["version_id"]),
            "environment": "production" if row["production_version_id"] == row["version_id"] else None,
        }

    def compile(
        self,
        auth: AuthContext,
        name: str,
        inputs: Mapping[str, str],
        filter_node: Any,
        *,
        include_experiments: bool,
        strict: bool,
        field: str,
    ) -> dict[str, Any]:
        """Fill the production version of prompt ``name`` (``field`` names the result: compile and
        template differ only in that)."""
        where = self._filter(prompt_version_filter_clause, filter_node)
        if "\x00" in name:
            raise InvalidInput("user_defined_id must not contain NUL characters")
        with self._engine.connect() as conn:
            version = prompt_repo.production_version(conn, auth.organization_id, name, where)
        if version is None:
            raise NotFound(f"prompt {name!r} not found")
        if version["id"] is None or (
            not include_experiments and is_experiment_version(load(version["meta"], {}))
        ):
            raise NotFound(f"prompt {name!r} has no production version matching the filter")
        auto_inputs = load(version["auto_inputs"], [])
        try:
            compiled = prompt_template.compile_template(load(version["template"]), inputs, auto_inputs)
        except RecursionError as exc:
            raise InvalidInput("the template is nested too deeply to compile") from exc
        if strict and (compiled.missing or compiled.unused):
            raise InvalidInput(_strict_message(compiled.missing, compiled.unused))
        return {
            **version_identity(version),
            field: compiled.value,
            "missing_inputs": compiled.missing,
            "unused_inputs": compiled.unused,
        }

    def _filter(self, translate: Any, node: Any) -> sa.ColumnElement[bool]:
        try:
            clause: sa.ColumnElement[bool] = translate("all" if node is None else node, dialect=self._dialect)
        except FilterError as exc:
            raise InvalidInput(str(exc)) from exc
        return clause

    # --- the web UI's reads (the methods above keep Helicone's wire shapes) ----------------------------

    def prompt_summaries(
        self, auth: AuthContext, *, search: str | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """A page of the prompt list, each prompt with its latest and production versions and when it
        last changed; and whether more follow. An organization has few prompts (each is a template a
        person or a code path names), so the list is read whole, as the API's list is."""
        if search is not None and "\x00" in search:
            raise InvalidInput("search must not contain NUL characters")
        with self._engine.connect() as conn:
            rows = prompt_repo.list_prompts(conn, auth.organization_id, sa.true(), search=search or None)
            visible = [row for row in rows if not is_hidden_prompt(load(row["meta"], {}))]
            page = visible[offset : offset + limit + 1]
            summaries = [self._summary(conn, auth, row) for row in page[:limit]]
        return summaries, len(page) > limit

    def _summary(self, conn: sa.Connection, auth: AuthContext, row: Row) -> dict[str, Any]:
        latest = prompt_repo.latest_version(conn, auth.organization_id, row["id"])
        production_id = row["production_version_id"]
        production = latest if latest is not None and latest["id"] == production_id else None
        if production is None and production_id is not None:
            production = prompt_repo.find_version(conn, auth.organization_id, production_id)
        # Versions are made in number order (a subversion of an older major aside), and an edit moves
        # a version's updated_at: the latest and production versions tell when the prompt last changed.
        changes = [row["created_at"], *(v["updated_at"] for v in (latest, production) if v is not None)]
        return {
            **prompts_result(row),
            "latest": None if latest is None else version_result(latest),
            "production": None if production is None else version_result(production),
            "updated_at": max(moment for moment in changes if moment is not None),
        }

    def input_records_page(self, auth: AuthContext, version_id: str, *, limit: int) -> list[dict[str, Any]]:
        """The newest input records of a version without their requests' bodies (a table of them
        needs only the inputs and the request id)."""
        if not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be 1 to 1000, got {limit}")
        with self._engine.connect() as conn:
            version = self._version(conn, auth, version_id)
            rows = prompt_repo.input_records(
                conn, auth.organization_id, version["id"], limit=limit, shuffle=False
            )
        return [input_record(row) for row in rows]

    def compile_version(
        self, auth: AuthContext, version_id: str, inputs: Mapping[str, str]
    ) -> dict[str, Any]:
        """Fill one version (any, not only production) with ``inputs``, as :meth:`compile` fills the
        production version: the auto inputs are those of the version's newest input record."""
        with self._engine.connect() as conn:
            version = self._version(conn, auth, version_id)
            newest = prompt_repo.input_records(
                conn, auth.organization_id, version["id"], limit=1, shuffle=False
            )
        auto_inputs = load(newest[0]["auto_inputs"], []) if newest else []
        try:
            template = load(version["template"])
            compiled = prompt_template.compile_template(template, inputs, auto_inputs)
            keys = prompt_template.input_keys(template)
        except RecursionError as exc:
            raise InvalidInput("the template is nested too deeply to compile") from exc
        return {
            **version_identity(version),
            "input_keys": keys,
            "prompt_compiled": compiled.value,
            "missing_inputs": compiled.missing,
            "unused_inputs": compiled.unused,
        }


def _expected_production(previous: uuid.UUID | None, production: uuid.UUID | None) -> uuid.UUID | None:
    """The production version the caller believes is current. No id (or the current one) is accepted
    as is; an id naming another version means the caller's view is stale."""
    if previous is not None and production is not None and previous != production:
        raise Conflict(
            f"version {previous} is not the production version (it is {production}); reload and promote again"
        )
    return production


def _join_experiment(conn: sa.Connection, auth: AuthContext, experiment_id: str, keys: list[str]) -> str:
    """The experiment a version is tied to (``experimentId`` of subversion and edit-template): it must
    be the organization's; the template's input keys join the experiment's (Helicone's behaviour)."""
    try:
        parsed = str(uuid.UUID(experiment_id))
    except ValueError:
        raise NotFound(f"experiment {experiment_id} not found") from None
    experiment = experiment_repo.find_experiment(conn, auth.organization_id, parsed, lock=True)
    if experiment is None:
        raise NotFound(f"experiment {experiment_id} not found")
    experiment_repo.merge_input_keys(conn, experiment, keys)
    return parsed


def _strict_message(missing: list[str], unused: list[str]) -> str:
    parts = []
    if missing:
        parts.append("missing inputs: " + ", ".join(repr(k) for k in missing))
    if unused:
        parts.append("unused inputs: " + ", ".join(repr(k) for k in unused))
    return "strict compile failed: " + "; ".join(parts)


def _json(text: str | None) -> Any:
    return load(text) if text else None
