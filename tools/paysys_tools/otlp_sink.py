"""A tiny OTLP/HTTP trace receiver on loopback: it answers what the roles' exporters send and
keeps a summary of each span. The benchmark measures tracing *on* against it (the roles pay
for recording, serialising and exporting every span; no collector is needed), and the tests
read the spans the role processes exported."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from paysys.local.procs import LOOPBACK
from paysys.runtime.serving import Limits, serving


@dataclass(frozen=True, slots=True)
class SunkSpan:
    service: str
    name: str
    trace_id: str  # hex, as in a traceparent
    span_id: str
    parent_id: str  # "" for a root span


@dataclass(slots=True)
class OtlpSink:
    url: str = ""  # what OTEL_EXPORTER_OTLP_ENDPOINT should say
    requests: int = 0
    bytes: int = 0
    spans: list[SunkSpan] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "bytes": self.bytes,
            "spans": len(self.spans),
            "spans_by_service": dict(Counter(s.service for s in self.spans)),
        }

    async def _export(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests += 1
        self.bytes += len(body)
        self.spans.extend(_spans(ExportTraceServiceRequest.FromString(body)))
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )


@contextlib.asynccontextmanager
async def otlp_sink() -> AsyncIterator[OtlpSink]:
    """Receive OTLP/HTTP (protobuf) traces on a free loopback port for the block."""
    sink = OtlpSink()
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/v1/traces", sink._export)
    async with serving(app, LOOPBACK, 0, Limits(shutdown_seconds=1.0)) as port:
        sink.url = f"http://{LOOPBACK}:{port}"
        yield sink


def _spans(request: ExportTraceServiceRequest) -> list[SunkSpan]:
    found: list[SunkSpan] = []
    for resource_spans in request.resource_spans:
        service = next(
            (
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            ),
            "",
        )
        for scope_spans in resource_spans.scope_spans:
            found.extend(
                SunkSpan(service, s.name, s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex())
                for s in scope_spans.spans
            )
    return found
