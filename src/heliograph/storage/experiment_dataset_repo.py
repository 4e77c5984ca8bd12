"""Queries of legacy experiment datasets (reference §2.8, second table): the prompt input records linked
into a dataset (``dataset_input_records``), scoped by organization. The dataset rows themselves are
created and found through ``dataset_repo``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.storage.bulk_insert import insert_rows
from heliograph.storage.dataset_tables import dataset_input_records, datasets
from heliograph.storage.dialect import insert_ignoring_conflicts, random_order
from heliograph.storage.prompt_filters import prompt_version_filter_clause
from heliograph.storage.request_fields import FilterError, describe_value
from heliograph.storage.request_filters import filter_tree_clause, request_filter_clause
from heliograph.storage.tables import prompt_inputs, prompt_versions, requests

Row = sa.RowMapping
# Ids per IN list: far below SQLite's and PostgreSQL's bound-parameter limits, whatever a body holds.
_CHUNK = 500


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def find_record(conn: sa.Connection, organization_id: int, record_id: uuid.UUID) -> Row | None:
    query = sa.select(prompt_inputs).where(
        prompt_inputs.c.organization_id == organization_id, prompt_inputs.c.id == record_id
    )
    return conn.execute(query).mappings().first()


def records_of_requests(
    conn: sa.Connection, organization_id: int, request_ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(input record id, request id) of every input record of the organization whose source request is
    one of ``request_ids``, oldest first."""
    found: list[tuple[uuid.UUID, uuid.UUID, int]] = []
    for chunk in _chunks(list(dict.fromkeys(request_ids))):
        query = sa.select(prompt_inputs.c.id, prompt_inputs.c.request_id, prompt_inputs.c.created_at).where(
            prompt_inputs.c.organization_id == organization_id,
            prompt_inputs.c.request_id.in_(chunk),
            prompt_inputs.c.experiment_id.is_(None),  # a request's own records, not experiment rows' copies
        )
        found.extend((row[0], row[1], row[2]) for row in conn.execute(query))
    found.sort(key=lambda item: (item[2], str(item[0])))
    return [(record_id, request_id) for record_id, request_id, _ in found]


def random_records(
    conn: sa.Connection, organization_id: int, where: sa.ColumnElement[bool], *, limit: int, offset: int
) -> list[uuid.UUID]:
    """Ids of the organization's input records of live versions matching ``where`` (a clause over
    ``prompt_inputs``, ``prompt_versions`` and the source request in ``requests``), in random order.
    The request is outer-joined: records without one still match a filter on versions only."""
    joined = prompt_inputs.join(
        prompt_versions, prompt_versions.c.id == prompt_inputs.c.version_id
    ).outerjoin(
        requests,
        sa.and_(
            requests.c.organization_id == prompt_inputs.c.organization_id,
            requests.c.id == prompt_inputs.c.request_id,
        ),
    )
    query = (
        sa.select(prompt_inputs.c.id)
        .select_from(joined)
        .where(
            prompt_inputs.c.organization_id == organization_id, prompt_versions.c.deleted_at.is_(None), where
        )
        .order_by(random_order(conn.dialect.name))
        .limit(limit)
        .offset(offset)
    )
    return list(conn.execute(query).scalars())


def link_records(conn: sa.Connection, rows: Iterable[dict[str, Any]]) -> None:
    """Link input records into a dataset; a record already linked stays linked once (the unique
    constraint on (dataset, record) makes a second link a no-op)."""
    batch = list(rows)
    if batch:
        conn.execute(insert_ignoring_conflicts(dataset_input_records, conn.dialect.name), batch)


def unlink(conn: sa.Connection, organization_id: int, dataset_id: str, link_ids: Sequence[str]) -> int:
    removed = 0
    for chunk in _chunks(list(dict.fromkeys(link_ids))):
        result = conn.execute(
            dataset_input_records.delete().where(
                dataset_input_records.c.organization_id == organization_id,
                dataset_input_records.c.dataset_id == dataset_id,
                dataset_input_records.c.id.in_(chunk),
            )
        )
        removed += result.rowcount
    return removed


def linked_records(conn: sa.Connection, organization_id: int, dataset_id: str, *, limit: int) -> list[Row]:
    """The input records linked into the dataset, oldest link first, each with its link id as
    ``dataset_row_id``."""
    query = (
        sa.select(prompt_inputs, dataset_input_records.c.id.label("dataset_row_id"))
        .select_from(dataset_input_records)
        .join(
            prompt_inputs,
            sa.and_(
                prompt_inputs.c.id == dataset_input_records.c.input_record_id,
                prompt_inputs.c.organization_id == dataset_input_records.c.organization_id,
            ),
        )
        .where(
            dataset_input_records.c.organization_id == organization_id,
            dataset_input_records.c.dataset_id == dataset_id,
        )
        # Links made by one call share a time: their records' own order comes next.
        .order_by(dataset_input_records.c.created_at, prompt_inputs.c.created_at, dataset_input_records.c.id)
        .limit(limit)
    )
    return list(conn.execute(query).mappings())


def live_datasets(conn: sa.Connection, organization_id: int) -> Iterator[Row]:
    """The organization's datasets that are not deleted, of every type, newest first (streamed: the
    caller filters on ``meta``, JSON text, and stops when it has enough)."""
    query = (
        sa.select(datasets.c.id, datasets.c.name, datasets.c.created_at, datasets.c.meta)
        .where(datasets.c.organization_id == organization_id, datasets.c.deleted_at.is_(None))
        .order_by(datasets.c.created_at.desc(), datasets.c.id)
    )
    yield from conn.execute(query).mappings()


def dataset_filter_clause(node: object, *, dialect: str) -> sa.ColumnElement[bool]:
    """WHERE clause for a ``DatasetFilterNode``: Helicone's filter tree whose leaves are ``request``
    (the Request API's translator, over the source request) and ``prompts_versions`` (the prompt
    version filter's); raises ``FilterError``, naming any other leaf."""

    def leaf_clause(leaf: object) -> sa.ColumnElement[bool]:
        if leaf == "all":
            return sa.true()
        if not isinstance(leaf, Mapping):
            raise FilterError(f"invalid filter node: expected an object, got {describe_value(leaf)}")
        conditions: list[sa.ColumnElement[bool]] = []
        for table, body in leaf.items():
            translate = _LEAF_TRANSLATORS.get(table)
            if translate is None:
                raise FilterError(
                    f"filter leaf {table!r} is not supported here (supported: request, prompts_versions)"
                )
            conditions.append(translate({table: body}, dialect=dialect))
        return sa.and_(*conditions) if conditions else sa.true()

    return filter_tree_clause(node, leaf_clause)


_LEAF_TRANSLATORS: dict[str, Callable[..., sa.ColumnElement[bool]]] = {
    "request": request_filter_clause,
    "prompts_versions": prompt_version_filter_clause,
}


# --- exports and imports ------------------------------------------------------------------------------


def linked_records_page(
    conn: sa.Connection,
    organization_id: int,
    dataset_id: str,
    *,
    after: uuid.UUID | None,
    limit: int,
    inputs_only: bool = False,
) -> list[Row]:
    """Up to ``limit`` input records linked into the dataset, in input record id order, after the
    record ``after`` (None: from the start). That is the order of the unique (dataset, record) index,
    so each page is a range scan of it, whatever the size of the dataset (ordering by link time would
    sort every link of the dataset for each page). Rows hold the
    record's ``id``, ``inputs``, ``auto_inputs``, ``request_id``, ``version_id`` and ``created_at``;
    ``inputs_only`` reads just ``id`` and ``inputs``, for a pass that only collects input names."""
    columns = [prompt_inputs.c.id, prompt_inputs.c.inputs]
    if not inputs_only:
        columns += [
            prompt_inputs.c.auto_inputs,
            prompt_inputs.c.request_id,
            prompt_inputs.c.version_id,
            prompt_inputs.c.created_at,
        ]
    record = dataset_input_records.c.input_record_id
    query = (
        sa.select(*columns)
        .select_from(dataset_input_records)
        .join(
            prompt_inputs,
            sa.and_(
                prompt_inputs.c.id == record,
                prompt_inputs.c.organization_id == dataset_input_records.c.organization_id,
            ),
        )
        .where(
            dataset_input_records.c.organization_id == organization_id,
            dataset_input_records.c.dataset_id == dataset_id,
        )
        .order_by(record)
        .limit(limit)
    )
    if after is not None:
        # The join makes the two ids equal; the second bound lets PostgreSQL's merge join start the
        # record index there too, instead of walking it from the first record on every page.
        query = query.where(record > after, prompt_inputs.c.id > after)
    return list(conn.execute(query).mappings())


def insert_input_records(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Many new input records: ``prompt_inputs`` rows, ``inputs`` and ``auto_inputs`` already JSON text."""
    insert_rows(conn, prompt_inputs, rows, ignore_conflicts=False)


def link_new_records(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """:func:`link_records` for many links at once (a record already linked stays linked once)."""
    insert_rows(conn, dataset_input_records, rows, ignore_conflicts=True)
