"""The HTTP API's app factory: payments, stats, health, metrics, OpenAPI and the status page.

``create_app`` is synchronous and takes everything it serves; the role runner opens the
resources and serves the app (``paysys.runtime.roles``).
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from prometheus_client import CollectorRegistry

from paysys.api.app_state import (
    API_KEYS,
    CURSORS,
    DECISIONS,
    METRICS,
    READINESS,
    REGISTRY,
    SERVICE,
    SETTINGS,
    STATUS,
    WEBHOOK_HISTORY,
    WEBHOOK_REDELIVERY,
    WEBHOOKS,
    WebhookWiring,
)
from paysys.api.auth import enforced_keys
from paysys.api.cursor import Cursors
from paysys.api.handlers import add_routes
from paysys.api.health import add_health_routes
from paysys.api.metrics import ApiMetrics
from paysys.api.middleware import (
    auth_middleware,
    context_middleware,
    deadline_middleware,
    error_middleware,
)
from paysys.api.readiness import Check, Readiness
from paysys.api.series import add_series_routes, sample_middleware
from paysys.api.ui import add_ui_routes
from paysys.api.webhook_delivery_handlers import add_delivery_routes
from paysys.api.webhook_handlers import add_webhook_routes
from paysys.config import Settings
from paysys.core.queries import StatusReader
from paysys.core.service import PaymentService
from paysys.core.timeline import RecentDecisions


def create_app(
    settings: Settings,
    service: PaymentService,
    readiness: Sequence[Check],
    status: StatusReader,
    metrics: ApiMetrics | None = None,
    *,
    webhooks: WebhookWiring | None = None,
) -> web.Application:
    app = web.Application(
        middlewares=[
            context_middleware,
            error_middleware,
            deadline_middleware,
            auth_middleware,
            sample_middleware,
        ],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[SERVICE] = service
    app[STATUS] = status
    app[DECISIONS] = RecentDecisions()
    app[CURSORS] = Cursors(settings.cursor_secret)
    app[API_KEYS] = enforced_keys(settings)
    app[METRICS] = metrics or ApiMetrics(CollectorRegistry())
    app[REGISTRY] = app[METRICS].registry
    app[READINESS] = Readiness(readiness, app[REGISTRY], settings.readiness_cache_seconds)
    add_routes(app)
    if webhooks is not None:
        app[WEBHOOKS] = webhooks.endpoints
        app[WEBHOOK_HISTORY] = webhooks.history
        app[WEBHOOK_REDELIVERY] = webhooks.redelivery
        add_webhook_routes(app)
        add_delivery_routes(app)
    add_health_routes(app)
    add_ui_routes(app)
    add_series_routes(app)
    return app
