"""Ingestion use cases: decode what a client sent, build records, wait until the writer commits them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, Protocol

from heliograph.clock import Clock, IdFactory
from heliograph.gateway.estimate import TokenEstimator
from heliograph.ingest.async_log import DEFAULT_PROVIDER, async_log_to_request
from heliograph.ingest.log_message import log_message_to_request
from heliograph.ingest.otlp_json import decode_otlp_json
from heliograph.ingest.otlp_proto import decode_otlp_protobuf
from heliograph.ingest.semconv import extract_llm_call
from heliograph.ingest.span_estimate import estimate_tokens, needs_estimate
from heliograph.ingest.span_requests import request_id_for_span, span_to_request
from heliograph.ingest.usage import record_usage
from heliograph.pricing.prices import PriceTable
from heliograph.records import IngestBatch, RequestRecord, SpanRecord
from heliograph.services.keys import AuthContext
from heliograph.storage.writer import BatchingWriter


class IngestObserver(Protocol):
    """Told of every acknowledged ingest call (operator metrics)."""

    def ingest_committed(self, source: str, records: int, seconds: float) -> None: ...


class IngestionService:
    def __init__(
        self,
        writer: BatchingWriter,
        prices: PriceTable,
        *,
        clock: Clock,
        ids: IdFactory,
        estimator: TokenEstimator | None = None,
    ) -> None:
        self._writer = writer
        self._prices = prices
        self._clock = clock
        self._ids = ids
        # Loads its encoding on first use, so a server whose spans all carry usage never does.
        self._estimator = estimator or TokenEstimator()
        self.observer: IngestObserver | None = None

    def otlp_batch(self, body: bytes, *, protobuf: bool, auth: AuthContext) -> IngestBatch:
        """Decode an OTLP export; every span is kept, LLM spans also become requests.

        An LLM span that reports no usage gets estimated tokens (``tokens_estimated``), see
        ``ingest/span_estimate.py``.

        Raises ``OtlpDecodeError`` (400/422) before anything is queued, so bad input writes nothing.
        """
        decode = decode_otlp_protobuf if protobuf else decode_otlp_json
        spans = decode(body, auth.organization_id)
        batch = IngestBatch(spans=spans)
        received_ns = self._clock() * 1_000_000
        for span in spans:
            sent_start = max(span.start_time, 0)  # the id must not depend on the receive time
            _default_times(span, received_ns)
            call = extract_llm_call(span.attributes)
            if call is None:
                continue
            request_id = request_id_for_span(auth.organization_id, span.trace_id, span.span_id, sent_start)
            span.request_id = request_id
            record = span_to_request(span, call, request_id=request_id, api_key_id=auth.key_id)
            if needs_estimate(record):
                estimate_tokens(record, call, self._estimator)
            record.cost = self._price(record)
            batch.requests.append(record)
        return batch

    def async_log_batch(
        self,
        body: Mapping[str, Any],
        headers: Mapping[str, str],
        auth: AuthContext,
        *,
        default_provider: str = DEFAULT_PROVIDER,
    ) -> IngestBatch:
        record = async_log_to_request(
            body,
            headers,
            organization_id=auth.organization_id,
            api_key_id=auth.key_id,
            now=self._clock(),
            new_id=self._ids,
            prices=self._prices,
            default_provider=default_provider,
        )
        return IngestBatch(requests=[record])

    def log_message_batch(self, body: Mapping[str, Any], auth: AuthContext) -> IngestBatch:
        """One record from Helicone's ``/v1/log/request`` message; raises ``LogMessageError`` (4xx)."""
        record = log_message_to_request(
            body,
            organization_id=auth.organization_id,
            api_key_id=auth.key_id,
            now=self._clock(),
            prices=self._prices,
        )
        return IngestBatch(requests=[record])

    async def commit(self, batch: IngestBatch) -> None:
        """Queue the batch and return once it is committed (raises WriterOverloaded when full).

        Encoding runs on a worker thread: it is mostly compression, which releases the GIL, so it uses
        the second core while this thread decodes the next request and the writer inserts.
        """
        if not len(batch):
            return
        started = time.perf_counter()
        prepared = await asyncio.to_thread(self._writer.prepare, batch)
        await asyncio.wrap_future(self._writer.submit_prepared(prepared))
        if self.observer is not None:
            # Spans come only from OTLP exports; async logs and log messages carry requests alone.
            source = "otlp" if batch.spans else "log"
            self.observer.ingest_committed(source, len(batch), time.perf_counter() - started)

    def _price(self, record: RequestRecord) -> int:
        usage = record_usage(record)
        return self._prices.cost_nanos(record.provider, record.model, usage)


def _default_times(span: SpanRecord, received_ns: int) -> None:
    # Decoders report unparseable or missing timestamps as 0; the receive time is the best stand-in.
    if span.start_time <= 0:
        span.start_time = received_ns if span.end_time <= 0 else span.end_time
    if span.end_time <= 0:
        span.end_time = span.start_time
