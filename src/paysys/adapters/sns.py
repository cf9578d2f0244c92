"""EventPublisher over SNS (aiobotocore)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from paysys.adapters.aws import translated
from paysys.domain import EVENT_TYPE, PaymentCreated

if TYPE_CHECKING:
    from types_aiobotocore_sns.client import SNSClient
    from types_aiobotocore_sns.type_defs import MessageAttributeValueTypeDef


@dataclass(frozen=True, slots=True)
class SnsPublisher:
    client: SNSClient
    topic_arn: str

    async def publish(
        self, event: PaymentCreated, correlation_id: str, traceparent: str | None = None
    ) -> str:
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            "event_type": {"DataType": "String", "StringValue": EVENT_TYPE},
            "correlation_id": {"DataType": "String", "StringValue": correlation_id},
        }
        if traceparent:
            attributes["traceparent"] = {"DataType": "String", "StringValue": traceparent}
        async with translated("SNS", "Publish"):
            response = await self.client.publish(
                TopicArn=self.topic_arn, Message=event.to_message(), MessageAttributes=attributes
            )
        return response["MessageId"]

    async def ping(self) -> None:
        async with translated("SNS", "GetTopicAttributes"):
            await self.client.get_topic_attributes(TopicArn=self.topic_arn)
