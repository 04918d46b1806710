"""The request-size middleware on a bare ASGI app: refused before the body is read."""

from __future__ import annotations

import asyncio
from typing import Any

from nhihub.api.limits import BodyLimitMiddleware, upload_body_limit

LIMIT = 100


class Recorder:
    """An ASGI app that reads the whole body and answers 200; records what it read."""

    def __init__(self) -> None:
        self.called = False
        self.read = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True
        more = True
        while more:
            message = await receive()
            self.read += len(message.get("body", b""))
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _run(app: Any, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    queue = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/x", "method": "POST", "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent


def _middleware(inner: Any) -> BodyLimitMiddleware:
    return BodyLimitMiddleware(inner, limit_for=lambda path: LIMIT, is_nhi=lambda path: False)


def test_declared_length_over_the_limit_is_refused_unread() -> None:
    inner = Recorder()
    sent = _run(_middleware(inner), [b"x" * 10], [(b"content-length", b"101")])
    assert sent[0]["status"] == 413
    assert not inner.called
    assert b'"too-large"' in sent[1]["body"]


def test_streamed_body_is_cut_at_the_limit() -> None:
    inner = Recorder()
    sent = _run(_middleware(inner), [b"x" * 60, b"x" * 60, b"x" * 60], [])
    assert sent[0]["status"] == 413
    assert inner.read <= LIMIT  # the third chunk was never handed to the app


def test_body_within_the_limit_passes() -> None:
    inner = Recorder()
    sent = _run(_middleware(inner), [b"x" * 50, b"x" * 50], [(b"content-length", b"100")])
    assert sent[0]["status"] == 200
    assert inner.read == 100


def test_nhi_paths_get_an_rtncode() -> None:
    app = BodyLimitMiddleware(Recorder(), limit_for=lambda p: LIMIT, is_nhi=lambda p: True)
    sent = _run(app, [b""], [(b"content-length", b"1000")])
    assert b'"RtnCode": "9999"' in sent[1]["body"]


def test_upload_limits_allow_for_base64() -> None:
    assert upload_body_limit(3000, base64=True) >= 4000
    assert upload_body_limit(3000, base64=False) >= 3000
    assert upload_body_limit(3000, base64=False) < upload_body_limit(3000, base64=True)
