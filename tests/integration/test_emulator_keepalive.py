"""The embedded emulator keeps connections open (paysys.local.keepalive): many AWS calls on
one TCP connection, each answered whole and in order, as AWS answers them."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from paysys.local.moto_atomic import MotoThread

SIGNED = (
    "AWS4-HMAC-SHA256 Credential=k/20250101/us-east-1/{}/aws4_request, "
    "SignedHeaders=host, Signature=x"
)


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[str, int]]:
    server = MotoThread()
    server.start()
    try:
        host, _, port = server.url.removeprefix("http://").partition(":")
        yield host, int(port)
    finally:
        server.stop()


def dynamodb(op: str, body: object) -> tuple[str, bytes, dict[str, str]]:
    headers = {
        "X-Amz-Target": f"DynamoDB_20120810.{op}",
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": SIGNED.format("dynamodb"),
    }
    return "/", json.dumps(body).encode(), headers


def ask(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[http.client.HTTPResponse, bytes]:
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response, response.read()


def test_one_connection_carries_many_calls_of_every_service(emulator: tuple[str, int]) -> None:
    conn = http.client.HTTPConnection(*emulator, timeout=10)
    response, _ = ask(conn, "POST", *dynamodb("ListTables", {}))
    sock = conn.sock
    assert response.status == 200
    assert response.getheader("Connection") is None  # HTTP/1.1: kept open
    sqs = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": SIGNED.format("sqs"),
    }
    for i in range(3):
        name = f"keepalive-{i}"
        response, data = ask(
            conn, "POST", "/", f"Action=CreateQueue&QueueName={name}".encode(), sqs
        )
        assert response.status == 200, data
        assert name.encode() in data
        response, data = ask(conn, "POST", *dynamodb("DescribeTable", {"TableName": "absent"}))
        assert response.status == 400
        assert b"ResourceNotFoundException" in data
        assert conn.sock is sock  # the same connection all along
    conn.close()


def test_a_body_the_application_leaves_unread_is_not_the_next_request(
    emulator: tuple[str, int],
) -> None:
    conn = http.client.HTTPConnection(*emulator, timeout=10)
    response, _ = ask(conn, "POST", "/moto-api/data.json", b"x" * 5000, {})  # body ignored
    assert response.status in (200, 405)
    response, data = ask(conn, "POST", *dynamodb("ListTables", {}))
    assert response.status == 200
    assert "TableNames" in json.loads(data)
    conn.close()


def test_a_client_that_asks_to_close_is_answered_then_closed(emulator: tuple[str, int]) -> None:
    conn = http.client.HTTPConnection(*emulator, timeout=10)
    path, body, headers = dynamodb("ListTables", {})
    response, data = ask(conn, "POST", path, body, {**headers, "Connection": "close"})
    assert response.status == 200
    assert "TableNames" in json.loads(data)
    assert response.getheader("Connection") == "close"
    assert response.will_close
    conn.close()


def test_head_gets_the_length_and_no_body(emulator: tuple[str, int]) -> None:
    conn = http.client.HTTPConnection(*emulator, timeout=10)
    response, data = ask(conn, "HEAD", "/moto-api/data.json", b"", {})
    assert data == b""
    assert response.getheader("Content-Length") is not None
    response, data = ask(conn, "GET", "/moto-api/data.json", b"", {})  # next one intact
    assert response.status == 200
    assert isinstance(json.loads(data), dict)
    conn.close()


def test_stopping_does_not_wait_for_a_client_that_keeps_its_connection() -> None:
    server = MotoThread()
    server.start()
    host, _, port = server.url.removeprefix("http://").partition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    response, _ = ask(conn, "POST", *dynamodb("ListTables", {}))
    assert response.status == 200
    server.stop()  # the connection is open and idle; its thread is a daemon: no wait
    conn.close()
