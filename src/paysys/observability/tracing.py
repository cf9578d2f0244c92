"""Traces: the spans paysys makes and the W3C trace context it carries, on the OpenTelemetry
API alone (the SDK is set up by :mod:`paysys.observability.telemetry`, and only when asked).

Off by default. Then the instrumentation points use the API's no-op tracer: no span is
recorded, but a span started under an incoming context stands for that context, so a
``traceparent`` received by the API still travels, unchanged, to the worker. The context is
carried by the W3C Trace Context propagator (``traceparent``, ``tracestate``), whatever
``OTEL_PROPAGATORS`` says: those two are what the message attributes have room for.

The spans: one SERVER span per HTTP request, one CLIENT span per AWS call (a receive is
recorded once per message it delivered, in that message's trace), a PRODUCER span per
published event and a CONSUMER span per message processed, the child of its producer.

The provider is this module's, not OpenTelemetry's global one (which can be set once per
process): ``use_provider`` swaps it, so a test can record into its own exporter.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TraceContext = otel_context.Context  # what a publisher captures and a batch call continues
TRACE_HEADERS = ("traceparent", "tracestate")
_PROPAGATOR = TraceContextTextMapPropagator()
# Off, a span with no incoming context to stand for is nothing at all: one shared context
# manager yielding the invalid span, no context attached (the OpenTelemetry API's no-op
# tracer still builds a span, attaches and detaches a context per call).
_NOTHING: AbstractContextManager[Span] = nullcontext(trace.INVALID_SPAN)


@dataclass(slots=True)
class _Current:
    tracer: Tracer
    recording: bool


_current = _Current(trace.NoOpTracer(), recording=False)


def use_provider(provider: TracerProvider | None) -> None:
    """Record paysys's spans through ``provider``; ``None``: back to the no-op tracer."""
    if provider is None:
        _current.tracer, _current.recording = trace.NoOpTracer(), False
    else:
        _current.tracer, _current.recording = provider.get_tracer("paysys"), True


def recording() -> bool:
    return _current.recording


def capture() -> TraceContext:
    """The current context, to continue later in another task (a batch call)."""
    return otel_context.get_current()


def carrier() -> dict[str, str]:
    """The current span's context as W3C headers (empty when there is none)."""
    headers: dict[str, str] = {}
    _PROPAGATOR.inject(headers)
    return headers


def traceparent() -> str | None:
    """The current span's ``traceparent`` (for log lines), if there is one."""
    return carrier().get("traceparent")


def server_span(
    method: str, route: str, headers: Mapping[str, str]
) -> AbstractContextManager[Span]:
    """The span of one HTTP request, continuing the caller's trace when it sent one."""
    if not _current.recording and "traceparent" not in headers:
        return _NOTHING
    return _server_span(method, route, headers)


@contextmanager
def _server_span(method: str, route: str, headers: Mapping[str, str]) -> Iterator[Span]:
    with _current.tracer.start_as_current_span(
        f"{method} {route}",
        context=_PROPAGATOR.extract(headers),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "http.route": route},
    ) as span:
        yield span


def http_status(span: Span, status: int) -> None:
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))


def client_span(
    service: str,
    operation: str,
    *,
    parent: TraceContext | None = None,
    linked: Sequence[TraceContext] = (),
    expected: tuple[type[Exception], ...] = (),
) -> AbstractContextManager[Span]:
    """The span of one AWS call (``SNS.PublishBatch``). An exception marks it failed unless
    it is ``expected`` (a domain outcome such as a failed condition). Off, nothing: no code
    inside an AWS call reads the current context."""
    if not _current.recording:
        return _NOTHING
    return _client_span(service, operation, parent, linked, expected)


@contextmanager
def _client_span(
    service: str,
    operation: str,
    parent: TraceContext | None,
    linked: Sequence[TraceContext],
    expected: tuple[type[Exception], ...],
) -> Iterator[Span]:
    links = [_link(c) for c in linked]
    with _current.tracer.start_as_current_span(
        f"{service}.{operation}",
        context=parent,
        kind=SpanKind.CLIENT,
        attributes=_rpc(service, operation),
        links=links,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except expected:
            raise
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise


def received(
    service: str, operation: str, messages: Sequence[tuple[Mapping[str, str], int]], began_ns: int
) -> None:
    """Record a receive call once per message it delivered (its attributes, its sent time
    in ms), in the message's own trace: from when the call began or the message was sent,
    whichever is later, until now. A receive that delivered nothing records nothing."""
    if not _current.recording:
        return
    now = time.time_ns()
    for attributes, sent_at_ms in messages:
        parent = _PROPAGATOR.extract(attributes)
        if not trace.get_current_span(parent).get_span_context().is_valid:
            continue
        span = _current.tracer.start_span(
            f"{service}.{operation}",
            context=parent,
            kind=SpanKind.CLIENT,
            attributes=_rpc(service, operation),
            start_time=min(max(began_ns, sent_at_ms * 1_000_000), now),
        )
        span.end(end_time=now)


def producer_span(name: str, destination: str) -> AbstractContextManager[Span]:
    """The span of one event handed to the broker; its context is what the event carries
    (off: the current context, which the no-op tracer's span would only have repeated)."""
    if not _current.recording:
        return _NOTHING
    return _producer_span(name, destination)


@contextmanager
def _producer_span(name: str, destination: str) -> Iterator[Span]:
    with _current.tracer.start_as_current_span(
        name,
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.operation.type": "send",
            "messaging.destination.name": destination,
        },
    ) as span:
        yield span


def consumer_span(
    name: str, attributes: Mapping[str, str], message_id: str
) -> AbstractContextManager[Span]:
    """The span of processing one message: a child of the context it carries."""
    if not _current.recording and "traceparent" not in attributes:
        return _NOTHING
    return _consumer_span(name, attributes, message_id)


@contextmanager
def _consumer_span(name: str, attributes: Mapping[str, str], message_id: str) -> Iterator[Span]:
    with _current.tracer.start_as_current_span(
        name,
        context=_PROPAGATOR.extract(attributes),
        kind=SpanKind.CONSUMER,
        attributes={"messaging.operation.type": "process", "messaging.message.id": message_id},
    ) as span:
        yield span


def _rpc(service: str, operation: str) -> dict[str, str]:
    return {"rpc.system": "aws-api", "rpc.service": service, "rpc.method": operation}


def _link(captured: TraceContext) -> Link:
    return Link(trace.get_current_span(captured).get_span_context())
