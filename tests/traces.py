"""Trace helpers for the tests: continue a caller's trace, record paysys's spans in memory."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from opentelemetry import context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from paysys.observability import tracing

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = int(TRACEPARENT.split("-")[1], 16)


@contextlib.contextmanager
def continuing(traceparent: str = TRACEPARENT, tracestate: str | None = None) -> Iterator[None]:
    """Run the block in the trace of a caller that sent these W3C headers."""
    headers = {"traceparent": traceparent}
    if tracestate:
        headers["tracestate"] = tracestate
    token = context.attach(TraceContextTextMapPropagator().extract(headers))
    try:
        yield
    finally:
        context.detach(token)


@contextlib.contextmanager
def recorded_spans() -> Iterator[InMemorySpanExporter]:
    """paysys's spans, recorded in memory for the block (each ended span as it ends)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        yield exporter
    finally:
        tracing.use_provider(None)
        provider.shutdown()


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        found.setdefault(span.name, []).append(span)
    return found
