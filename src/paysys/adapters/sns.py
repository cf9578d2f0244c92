"""EventPublisher over SNS (aiobotocore)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from paysys.adapters.aws import translated
from paysys.domain import EVENT_TYPE, PaymentCreated

if TYPE_CHECKING:
    from types_aiobotocore_sns.client import SNSClient


@dataclass(frozen=True, slots=True)
class SnsPublisher:
    client: SNSClient
    topic_arn: str

    async def publish(self, event: PaymentCreated, correlation_id: str) -> str:
        async with translated("SNS", "Publish"):
            response = await self.client.publish(
                TopicArn=self.topic_arn,
                Message=event.to_message(),
                MessageAttributes={
                    "event_type": {"DataType": "String", "StringValue": EVENT_TYPE},
                    "correlation_id": {"DataType": "String", "StringValue": correlation_id},
                },
            )
        return response["MessageId"]

    async def ping(self) -> None:
        async with translated("SNS", "GetTopicAttributes"):
            await self.client.get_topic_attributes(TopicArn=self.topic_arn)
