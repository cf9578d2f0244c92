"""The typed keys under which the app and each request hold their shared objects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry

from paysys.api.auth import ApiKeys
from paysys.api.metrics import ApiMetrics
from paysys.config import Settings
from paysys.core.queries import StatusReader
from paysys.core.service import PaymentService

HealthCheck = Callable[[], Awaitable[None]]

SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", PaymentService)
STATUS = web.AppKey("status", StatusReader)
READINESS = web.AppKey("readiness", dict[str, HealthCheck])
API_KEYS = web.AppKey("api_keys", ApiKeys)
METRICS = web.AppKey("metrics", ApiMetrics)
REGISTRY = web.AppKey("registry", CollectorRegistry)

REQUEST_ID = web.RequestKey("request_id", str)
TRACEPARENT = web.RequestKey("traceparent", str)
API_KEY_ID = web.RequestKey("api_key_id", str)
