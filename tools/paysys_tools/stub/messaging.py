"""The stub's SNS (query protocol, XML replies) and SQS (JSON protocol): topics fan out to
the queues subscribed to them, so what paysys publishes is what its workers receive."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import struct
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from paysys_tools.stub.filters import matches

Json = dict[str, Any]
ACCOUNT = "000000000000"
REGION = "us-east-1"


class StubError(Exception):
    """An error reply: AWS error code, HTTP status, and (SQS) the query-compatible code."""

    def __init__(self, code: str, message: str, status: int = 400, query_code: str = "") -> None:
        super().__init__(message)
        self.code, self.status, self.query_code = code, status, query_code or code


@dataclass(slots=True)
class Message:
    message_id: str
    body: str
    attributes: Json  # SQS message attributes: name -> {"DataType", "StringValue"}
    sent_ms: int
    receives: int = 0

    def reply(self, receipt: str) -> Json:
        out: Json = {
            "MessageId": self.message_id,
            "ReceiptHandle": receipt,
            "MD5OfBody": hashlib.md5(self.body.encode()).hexdigest(),  # noqa: S324 - the SQS checksum
            "Body": self.body,
            "Attributes": {
                "ApproximateReceiveCount": str(self.receives),
                "SentTimestamp": str(self.sent_ms),
            },
        }
        if self.attributes:
            out["MessageAttributes"] = self.attributes
            out["MD5OfMessageAttributes"] = attributes_md5(self.attributes)
        return out


def attributes_md5(attributes: Mapping[str, Json]) -> str:
    """SQS's MD5 of message attributes (the encoding botocore checks)."""
    digest = hashlib.md5()  # noqa: S324 - the SQS checksum
    for name in sorted(attributes):
        value = attributes[name]
        for part in (name, value["DataType"]):
            digest.update(struct.pack("!I", len(part.encode())) + part.encode())
        if "StringValue" in value:
            data = value["StringValue"].encode()
            digest.update(b"\x01" + struct.pack("!I", len(data)) + data)
        else:
            data = value.get("BinaryValue", b"")
            data = data if isinstance(data, bytes) else data.encode()
            digest.update(b"\x02" + struct.pack("!I", len(data)) + data)
    return digest.hexdigest()


@dataclass(slots=True)
class Queue:
    name: str
    attributes: dict[str, str] = field(default_factory=dict)
    visible: deque[Message] = field(default_factory=deque)
    in_flight: dict[str, tuple[Message, float]] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def arn(self) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.name}"

    def put(self, message: Message) -> None:
        self.visible.append(message)
        self.arrived.set()

    def expire(self, now: float) -> None:
        for receipt, (message, until) in list(self.in_flight.items()):
            if until <= now:
                del self.in_flight[receipt]
                self.put(message)

    def take(self, count: int, visibility: float) -> list[Json]:
        now = time.monotonic()
        self.expire(now)
        out: list[Json] = []
        while self.visible and len(out) < count:
            message = self.visible.popleft()
            message.receives += 1
            receipt = uuid.uuid4().hex
            self.in_flight[receipt] = (message, now + visibility)
            out.append(message.reply(receipt))
        if not self.visible:
            self.arrived.clear()
        return out


class Messaging:
    """The topics, subscriptions and queues of one stub process."""

    def __init__(self) -> None:
        self.queues: dict[str, Queue] = {}
        self.topics: dict[str, dict[str, str]] = {}  # arn -> attributes
        self.subscriptions: dict[str, Json] = {}  # arn -> {TopicArn, Endpoint, Raw}

    # --- SQS (JSON) --------------------------------------------------------------------
    def queue(self, url: str) -> Queue:
        queue = self.queues.get(url.rsplit("/", 1)[-1])
        if queue is None:
            raise StubError(
                "QueueDoesNotExist",
                "The specified queue does not exist.",
                query_code="AWS.SimpleQueueService.NonExistentQueue",
            )
        return queue

    async def sqs(  # noqa: PLR0911, PLR0912 - one branch per operation
        self, operation: str, request: Json, base_url: str
    ) -> Json:
        if operation == "ReceiveMessage":
            return await self.receive(request)
        if operation in ("CreateQueue", "GetQueueUrl"):
            name = request["QueueName"]
            if name not in self.queues:
                if operation == "GetQueueUrl":
                    self.queue(name)  # raises QueueDoesNotExist
                self.queues[name] = Queue(name, dict(request.get("Attributes", {})))
            return {"QueueUrl": f"{base_url}/{ACCOUNT}/{name}"}
        queue = self.queue(request["QueueUrl"])
        if operation == "GetQueueAttributes":
            queue.expire(time.monotonic())
            every = {
                **queue.attributes,
                "QueueArn": queue.arn,
                "ApproximateNumberOfMessages": str(len(queue.visible)),
                "ApproximateNumberOfMessagesNotVisible": str(len(queue.in_flight)),
                "ApproximateNumberOfMessagesDelayed": "0",
            }
            wanted = request.get("AttributeNames", ["All"])
            return {
                "Attributes": every
                if "All" in wanted
                else {k: every[k] for k in wanted if k in every}
            }
        if operation == "SetQueueAttributes":
            queue.attributes.update(request.get("Attributes", {}))
            return {}
        if operation == "DeleteQueue":
            del self.queues[queue.name]
            return {}
        if operation == "PurgeQueue":
            queue.visible.clear()
            queue.in_flight.clear()
            return {}
        if operation == "SendMessage":
            return self._send(queue, request)
        if operation == "SendMessageBatch":
            sent = [{"Id": e["Id"], **self._send(queue, e)} for e in request["Entries"]]
            return {"Successful": sent, "Failed": []}
        if operation == "DeleteMessage":
            queue.in_flight.pop(request["ReceiptHandle"], None)
            return {}
        if operation == "DeleteMessageBatch":
            for entry in request["Entries"]:
                queue.in_flight.pop(entry["ReceiptHandle"], None)
            return {"Successful": [{"Id": e["Id"]} for e in request["Entries"]], "Failed": []}
        if operation == "ChangeMessageVisibility":
            self._change(queue, request["ReceiptHandle"], request["VisibilityTimeout"])
            return {}
        if operation == "ChangeMessageVisibilityBatch":
            for entry in request["Entries"]:
                self._change(queue, entry["ReceiptHandle"], entry["VisibilityTimeout"])
            return {"Successful": [{"Id": e["Id"]} for e in request["Entries"]], "Failed": []}
        raise StubError("InvalidAction", f"{operation} is not served by the stub")

    @staticmethod
    def _send(queue: Queue, request: Json) -> Json:
        body = request["MessageBody"]
        attributes = request.get("MessageAttributes", {})
        message = Message(uuid.uuid4().hex, body, attributes, int(time.time() * 1000))
        queue.put(message)
        digest = hashlib.md5(body.encode()).hexdigest()  # noqa: S324 - the SQS checksum
        out = {"MessageId": message.message_id, "MD5OfMessageBody": digest}
        if attributes:
            out["MD5OfMessageAttributes"] = attributes_md5(attributes)
        return out

    @staticmethod
    def _change(queue: Queue, receipt: str, timeout: int) -> None:
        held = queue.in_flight.pop(receipt, None)
        if held is None:
            return
        if timeout <= 0:
            queue.put(held[0])
        else:
            queue.in_flight[receipt] = (held[0], time.monotonic() + timeout)

    async def receive(self, request: Json) -> Json:
        queue = self.queue(request["QueueUrl"])
        count = int(request.get("MaxNumberOfMessages", 1))
        visibility = float(
            request.get("VisibilityTimeout", queue.attributes.get("VisibilityTimeout", 30))
        )
        deadline = time.monotonic() + float(request.get("WaitTimeSeconds", 0))
        while True:
            taken = queue.take(count, visibility)
            remaining = deadline - time.monotonic()
            if taken or remaining <= 0:
                return {"Messages": taken} if taken else {}
            # wake on an arrival, or now and then to expire in-flight messages
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(queue.arrived.wait(), min(remaining, 1.0))

    def publish(self, topic: str, form: Mapping[str, str], prefix: str) -> str:
        message_id = str(uuid.uuid4())
        body = form[prefix + "Message"]
        attributes: Json = {}
        n = 1
        while (name := form.get(f"{prefix}MessageAttributes.entry.{n}.Name")) is not None:
            value = f"{prefix}MessageAttributes.entry.{n}.Value."
            attributes[name] = {
                "DataType": form[value + "DataType"],
                "StringValue": form.get(value + "StringValue", ""),
            }
            n += 1
        now_ms = int(time.time() * 1000)
        for sub in self.subscriptions.values():
            if sub["TopicArn"] != topic or not matches(sub.get("Filter", {}), attributes):
                continue
            queue = self.queues.get(sub["Endpoint"].rsplit(":", 1)[-1])
            if queue is None:
                continue
            if sub["Raw"]:
                queue.put(Message(uuid.uuid4().hex, body, attributes, now_ms))
            else:
                envelope = {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": topic,
                    "Message": body,
                    "MessageAttributes": {
                        k: {"Type": v["DataType"], "Value": v["StringValue"]}
                        for k, v in attributes.items()
                    },
                }
                queue.put(Message(uuid.uuid4().hex, json.dumps(envelope), {}, now_ms))
        return message_id
