"""Request-size limit, enforced while the body arrives (pure ASGI middleware).

A request whose ``Content-Length`` is over the limit is answered 413 before a byte of its body is
read; a body sent without a length (chunked) is counted as it streams and refused as soon as it
passes the limit, so an oversized upload is never held in memory. Upload endpoints get the upload
limit (``NHIHUB_MAX_UPLOAD_BYTES``; the NHI JSON carries the file in base64, hence 4/3 of it),
every other endpoint a small one.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nhihub.api.errors import ApiError

# Room for the multipart envelope or the JSON fields around the file.
ENVELOPE_BYTES = 64 * 1024
SMALL_BODY_BYTES = 64 * 1024


class BodyTooLarge(ApiError):
    """Raised from ``receive`` when the body passes the limit (an HTTPException, so FastAPI's
    body parsing re-raises it instead of turning it into a 400)."""

    def __init__(self, limit: int, *, nhi: bool) -> None:
        super().__init__(
            "too-large",
            detail_zh=f"上限 {limit} 位元組",
            detail_en=f"limit {limit} bytes",
        )
        self.nhi = nhi


def upload_body_limit(max_upload_bytes: int, *, base64: bool) -> int:
    """Largest request body for an upload of at most ``max_upload_bytes`` bytes."""
    encoded = -(-max_upload_bytes // 3) * 4 if base64 else max_upload_bytes
    return encoded + ENVELOPE_BYTES


class BodyLimitMiddleware:
    """Refuse request bodies over ``limit_for(path)`` bytes with 413 and a bilingual body;
    ``is_nhi(path)`` adds RtnCode 9999 for the NHI-compatible endpoints."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit_for: Callable[[str], int],
        is_nhi: Callable[[str], bool],
    ) -> None:
        self.app = app
        self.limit_for = limit_for
        self.is_nhi = is_nhi

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = self.limit_for(path)
        nhi = self.is_nhi(path)
        length = Headers(scope=scope).get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _refuse(BodyTooLarge(limit, nhi=nhi), send)
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, nhi=nhi)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLarge as exc:
            # Normally the app's exception handler answers; this covers bodies read elsewhere.
            if started:
                raise
            await _refuse(exc, send)


async def _refuse(exc: BodyTooLarge, send: Send) -> None:
    body = json.dumps(exc.body(nhi=exc.nhi), ensure_ascii=False).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
