"""The OpenTelemetry SDK for a role: set up from the standard ``OTEL_*`` variables, off unless
they ask for traces, flushed and shut down when the role ends.

On when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``) or an OTLP endpoint
is set (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``);
``OTEL_TRACES_EXPORTER=none`` or ``OTEL_SDK_DISABLED=true`` keep it off. The exporter is OTLP
over HTTP/protobuf; the SDK reads the rest of its configuration (endpoint, headers, timeout,
``OTEL_BSP_*`` batching, ``OTEL_RESOURCE_ATTRIBUTES``) from the process environment itself.
``service.name`` is ``paysys-<role>`` unless ``OTEL_SERVICE_NAME`` or the resource
attributes name one. Off, nothing of the SDK is even imported.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import structlog

from paysys.errors import ConfigError
from paysys.observability import tracing

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = structlog.get_logger(__name__)

EXPORTERS = ("otlp", "console")
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_PROTOCOLS = ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")


def traces_exporter(environ: Mapping[str, str]) -> str | None:
    """The exporter the variables ask for, or None: tracing off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    named = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if named == "none":
        return None
    if not named and not any(environ.get(name) for name in _ENDPOINTS):
        return None
    exporter = named or "otlp"
    if exporter not in EXPORTERS:
        raise ConfigError(f"OTEL_TRACES_EXPORTER={named!r}: paysys exports {EXPORTERS}")
    for name in _PROTOCOLS:
        if environ.get(name, "http/protobuf") != "http/protobuf":
            raise ConfigError(f"{name}: paysys's OTLP exporter speaks http/protobuf only")
    return exporter


@contextmanager
def role_tracing(role: str | None, environ: Mapping[str, str]) -> Iterator[None]:
    """Trace the role's work for the block when the variables ask for it; flush on exit.
    ``role=None``: a command that is no role (provision, dlq) is not traced."""
    exporter = traces_exporter(environ) if role else None
    if exporter is None:
        yield
        return
    provider = build_provider(f"paysys-{role}", exporter)
    tracing.use_provider(provider)
    log.info("tracing.on", exporter=exporter)
    try:
        yield
    finally:
        tracing.use_provider(None)
        provider.shutdown()  # exports what the batch processor still holds


def build_provider(service_name: str, exporter: str) -> TracerProvider:
    """An SDK provider exporting through a batch processor."""
    # Imported here: a role that does not trace never loads the SDK or protobuf.
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = Resource.create({SERVICE_NAME: service_name})
    provider = TracerProvider(resource=resource)
    if exporter == "console":
        span_exporter: SpanExporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        span_exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    return provider
