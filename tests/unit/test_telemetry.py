"""The SDK set-up from the OTEL_* variables: off by default, and then nothing of it loaded."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from paysys.errors import ConfigError
from paysys.observability import tracing
from paysys.observability.telemetry import build_provider, role_tracing, traces_exporter

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        (ENDPOINT, "otlp"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({"OTEL_TRACES_EXPORTER": "none", **ENDPOINT}, None),
        ({"OTEL_SDK_DISABLED": "true", **ENDPOINT}, None),
        ({"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "console"}, None),
        ({"OTEL_SDK_DISABLED": "false", **ENDPOINT}, "otlp"),
    ],
)
def test_tracing_is_on_only_when_the_variables_ask(environ, expected) -> None:
    assert traces_exporter(environ) == expected


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_TRACES_EXPORTER": "zipkin"},
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", **ENDPOINT},
        {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc", "OTEL_TRACES_EXPORTER": "otlp"},
    ],
)
def test_what_paysys_cannot_export_is_refused(environ) -> None:
    with pytest.raises(ConfigError):
        traces_exporter(environ)


OFF = textwrap.dedent(
    """
    import sys
    from opentelemetry import trace
    from paysys.observability import tracing
    from paysys.observability.telemetry import role_tracing

    with role_tracing("api", {}):
        assert not tracing.recording()
        with tracing.client_span("SNS", "Publish") as span:
            assert not span.is_recording()
    print(type(trace.get_tracer_provider()).__name__)
    print(sorted(m for m in sys.modules if m.startswith("opentelemetry.sdk")))
    """
)


def test_off_by_default_no_sdk_provider_is_installed() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", OFF], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.splitlines() == ["ProxyTracerProvider", "[]"]


def test_on_the_role_records_until_it_ends() -> None:
    with role_tracing("worker", {"OTEL_TRACES_EXPORTER": "console"}):
        assert tracing.recording()
    assert not tracing.recording()
    with role_tracing(None, {"OTEL_TRACES_EXPORTER": "console"}):  # not a role: not traced
        assert not tracing.recording()


def test_service_name_is_the_role_unless_the_environment_names_one(monkeypatch) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    provider = build_provider("paysys-api", "console")
    assert provider.resource.attributes["service.name"] == "paysys-api"
    provider.shutdown()
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes")
    provider = build_provider("paysys-api", "console")
    assert provider.resource.attributes["service.name"] == "from-attributes"
    provider.shutdown()
    monkeypatch.setenv("OTEL_SERVICE_NAME", "payments-eu")
    provider = build_provider("paysys-api", "console")
    assert provider.resource.attributes["service.name"] == "payments-eu"
    provider.shutdown()
