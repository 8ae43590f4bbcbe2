"""What every HTTP request meets before any parsing: a size limit, JSON only, HEAD as GET.

An ASGI middleware rather than FastAPI code, so that an oversized or non-JSON body is refused
before a byte of it is parsed, whatever the route.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.problems import problem

MAX_BODY_BYTES = 64 * 1024


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY_BYTES) -> None:
        self._app, self._max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope["headers"]}
        if _declared_size(headers) > self._max_body:
            await self._refuse_size(scope, receive, send)
            return
        if _has_body(headers) and not _is_json(headers.get(b"content-type", b"")):
            await problem(415, "unsupported_media_type", "send the body as application/json")(
                scope, receive, send
            )
            return
        body = await _read_at_most(receive, self._max_body)
        if body is None:
            await self._refuse_size(scope, receive, send)
            return
        if scope["method"] == "HEAD":
            scope, send = {**scope, "method": "GET"}, _without_body(send)
        await self._app(scope, _replay(body, receive), send)

    async def _refuse_size(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = f"{self._max_body // 1024} KiB"
        await problem(413, "body_too_large", f"the body is larger than {limit}")(
            scope, receive, send
        )


def _declared_size(headers: dict[bytes, bytes]) -> int:
    try:
        return int(headers.get(b"content-length", b"0"))
    except ValueError:
        return 0


def _has_body(headers: dict[bytes, bytes]) -> bool:
    return _declared_size(headers) > 0 or b"transfer-encoding" in headers


def _is_json(content_type: bytes) -> bool:
    media_type = content_type.split(b";")[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )


async def _read_at_most(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it exceeds `limit` (a chunked body declares none)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read already, then what the client does next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _without_body(send: Send) -> Send:
    """HEAD: the GET answer's status and headers (Content-Length included), no body."""

    async def head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return head
