"""The typed keys under which the app and each request hold their shared objects."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry

from paysys.adapters.webhook_history import DynamoWebhookHistory
from paysys.adapters.webhook_redelivery import WebhookRedelivery
from paysys.adapters.webhook_store import DynamoWebhookEndpoints
from paysys.api.auth import ApiKeys
from paysys.api.cursor import Cursors
from paysys.api.metrics import ApiMetrics
from paysys.api.readiness import Readiness
from paysys.config import Settings
from paysys.core.queries import StatusReader
from paysys.core.service import PaymentService
from paysys.core.timeline import RecentDecisions

SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", PaymentService)
STATUS = web.AppKey("status", StatusReader)
CURSORS = web.AppKey("cursors", Cursors)
READINESS = web.AppKey("readiness", Readiness)
API_KEYS = web.AppKey("api_keys", ApiKeys)
METRICS = web.AppKey("metrics", ApiMetrics)
REGISTRY = web.AppKey("registry", CollectorRegistry)
DECISIONS = web.AppKey("decisions", RecentDecisions)  # the status page's charts
WEBHOOKS = web.AppKey("webhooks", DynamoWebhookEndpoints)  # absent: no webhook routes
WEBHOOK_HISTORY = web.AppKey("webhook_history", DynamoWebhookHistory)
WEBHOOK_REDELIVERY = web.AppKey("webhook_redelivery", WebhookRedelivery)


@dataclass(frozen=True, slots=True)
class WebhookWiring:
    """What the webhook routes use: endpoints, delivery history, queueing a delivery again."""

    endpoints: DynamoWebhookEndpoints
    history: DynamoWebhookHistory
    redelivery: WebhookRedelivery


REQUEST_ID = web.RequestKey("request_id", str)
API_KEY_ID = web.RequestKey("api_key_id", str)
MERCHANT = web.RequestKey("merchant_id", str)  # set by auth; absent in open mode (default)
DEADLINE = web.RequestKey("deadline", asyncio.Timeout)
