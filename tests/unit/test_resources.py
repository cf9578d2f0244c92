"""The clients ``open_clients`` builds: what they put on the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from botocore.exceptions import ClientError

from paysys.config import Settings
from paysys.runtime.resources import USER_AGENT, open_clients

_ERROR = (
    "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code>"
    "<Message>recorded</Message></Error><RequestId>1</RequestId></ErrorResponse>"
)


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[str]]]:
    """A local endpoint that records each request's User-Agent and refuses it (400)."""
    agents: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        agents.append(request.headers.get("User-Agent", ""))
        return web.Response(status=400, text=_ERROR, content_type="text/xml")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", agents
    finally:
        await runner.cleanup()


async def test_sns_and_sqs_calls_carry_the_fixed_user_agent(recorder) -> None:
    endpoint, agents = recorder
    settings = Settings.from_env({}).replace(aws_endpoint_url=endpoint, aws_max_attempts=1)
    async with open_clients(settings) as clients:
        with pytest.raises(ClientError):
            await clients.sns.get_topic_attributes(TopicArn="arn:aws:sns:us-east-1:1:t")
        with pytest.raises(ClientError):
            await clients.sqs.get_queue_url(QueueName="q")
    assert len(agents) == 2
    assert agents[0] == agents[1]
    assert agents[0].startswith(f"{USER_AGENT} ")  # then botocore's own ``botocore/<version>``
    assert agents[0].startswith("paysys/")
    assert "botocore/" in agents[0].removeprefix(USER_AGENT)
