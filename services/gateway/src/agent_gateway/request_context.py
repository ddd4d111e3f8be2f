"""Every request gets a request id and a client IP first, so that every log line
and every security event about it (a refusal included) carries both."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent_common.ids import new_id
from agent_common.logs import bind_ids
from agent_gateway.client_ip import client_ip


class RequestContext:
    """What the edge learned about a request, kept in `scope["state"]["context"]`."""

    def __init__(self, request_id: str, client_ip: str) -> None:
        self.request_id = request_id
        self.client_ip = client_ip


def request_context(scope: Scope) -> RequestContext:
    context: RequestContext = scope["state"]["context"]
    return context


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, ip_header: str | None, trusted_hops: int) -> None:
        self.app = app
        self._ip_header = ip_header
        self._trusted_hops = trusted_hops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = RequestContext(new_id("req_"), client_ip(scope, self._ip_header, self._trusted_hops))
        scope.setdefault("state", {})["context"] = context

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "x-request-id" not in headers:
                    headers["X-Request-ID"] = context.request_id
            await send(message)

        with bind_ids(request_id=context.request_id, client_ip=context.client_ip):
            await self.app(scope, receive, send_with_id)
