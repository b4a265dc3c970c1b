"""The pieces of observability judged alone: log lines, the request id, the HSM timing door."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from starlette.types import Message, Receive, Scope, Send

from ca.correlation import REQUEST_ID
from ca.errors import HsmUnavailable
from ca.metrics import hsm_operation, observe_hsm_with
from govsign.config.logs import JsonLines, TextLines
from govsign.http.observation import RequestObservation

pytestmark = pytest.mark.pure


def _access_line(formatter: logging.Formatter, request_id: str) -> str:
    """An access log record formatted inside a request whose id is ``request_id``."""
    reset = REQUEST_ID.set(request_id)
    try:
        return formatter.format(_access_record())
    finally:
        REQUEST_ID.reset(reset)


def _access_record() -> logging.LogRecord:
    record = logging.LogRecord(
        "govsign.access", logging.INFO, __file__, 1, "%s %s %d", ("GET", "/livez", 200), None
    )
    for name, value in {"method": "GET", "route": "/livez", "status": 200, "duration": 0.0012}.items():
        setattr(record, name, value)
    return record


def test_a_json_log_line_is_one_object_with_the_request_id_of_the_context() -> None:
    line = _access_line(JsonLines(), "req-7")
    assert "\n" not in line
    facts = json.loads(line)
    assert facts["request_id"] == "req-7" and facts["message"] == "GET /livez 200"
    assert (facts["level"], facts["logger"], facts["route"], facts["status"]) == (
        "INFO",
        "govsign.access",
        "/livez",
        200,
    )
    assert facts["time"].endswith("+00:00")


def test_a_text_log_line_carries_the_same_facts_for_a_person() -> None:
    line = _access_line(TextLines(), "req-8")
    assert "[req-8] GET /livez 200" in line and "route=/livez" in line and "duration=0.0012" in line


def _answer(id_seen: list[str | None]) -> RequestObservation:
    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        id_seen.append(REQUEST_ID.get())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return RequestObservation(application, access_log=False)


def _request(middleware: RequestObservation, headers: list[tuple[bytes, bytes]]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": headers}
    asyncio.run(middleware(scope, receive, send))
    return sent


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [(b"abc-123_x.y:z", True), (b"x" * 65, False), (b"two words", False), (b"", False), (b"\xff\xfe", False)],
)
def test_a_sane_incoming_request_id_is_kept_any_other_replaced(incoming: bytes, kept: bool) -> None:
    seen: list[str | None] = []
    sent = _request(_answer(seen), [(b"x-request-id", incoming)])
    echoed = dict(sent[0]["headers"])[b"x-request-id"].decode()
    assert echoed == seen[0], "the response names the id the request ran under"
    assert (echoed == incoming.decode("latin-1")) is kept
    if not kept:
        assert len(echoed) == 32 and int(echoed, 16) >= 0
    assert REQUEST_ID.get() is None, "the id does not outlive its request"


def test_every_hsm_operation_reports_its_time_and_failure() -> None:
    reports: list[tuple[str, float, bool]] = []
    observe_hsm_with(lambda operation, seconds, failed: reports.append((operation, seconds, failed)))
    try:
        with hsm_operation("sign"):
            pass
        with pytest.raises(HsmUnavailable), hsm_operation("probe"):
            raise HsmUnavailable("gone")
    finally:
        observe_hsm_with(None)
    assert [(operation, failed) for operation, _, failed in reports] == [("sign", False), ("probe", True)]
    assert all(seconds >= 0 for _, seconds, _ in reports)
