"""The last line of defence (pure ASGI middleware): an exception no handler answered becomes 500
``internal`` with a bilingual body, and is logged by type and place only.

Why not an ``Exception`` handler: Starlette's outermost middleware answers with it and then
re-raises, so the server logs the exception's text, which may quote data (a person ID in a value
that broke something). Here nothing is re-raised.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nhihub.api.errors import ApiError

log = logging.getLogger("nhihub.api")


def log_unexpected(exc: BaseException, where: str) -> None:
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("unhandled %s in %s\n%s", type(exc).__name__, where, frames.rstrip())


class GuardMiddleware:
    def __init__(self, app: ASGIApp, *, is_nhi: Callable[[str], bool]) -> None:
        self.app = app
        self.is_nhi = is_nhi

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception as exc:
            route = scope.get("route")
            where = f"{scope.get('method', '?')} {getattr(route, 'path', '?')}"
            log_unexpected(exc, where)
            if started:
                return  # the client sees a cut response; nothing else can be done
            nhi = self.is_nhi(scope.get("path", ""))
            body = json.dumps(ApiError("internal").body(nhi=nhi), ensure_ascii=False).encode()
            await send(
                {
                    "type": "http.response.start",
                    # NHI's clients read RtnCode 9999 from a 200 answer
                    "status": 200 if nhi else 500,
                    "headers": [
                        (b"content-type", b"application/json; charset=utf-8"),
                        (b"content-length", str(len(body)).encode("ascii")),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
