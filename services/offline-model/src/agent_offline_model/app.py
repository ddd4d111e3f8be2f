"""The HTTP app: OpenAI's chat-completions and models endpoints, health, and the fault admin API.

All routes are relative and slash redirects are off, so the app works the same
standalone and mounted under a prefix (the embedded default serves it at `/offline`).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agent_offline_model.faults import Fault, FaultKind, FaultQueue, FaultSpec, directive_fault
from agent_offline_model.policy import decide, message_text
from agent_offline_model.settings import OfflineModelSettings
from agent_offline_model.streaming import (
    Pacing,
    Served,
    TruncatedJSONResponse,
    quiet_drop_tracebacks,
    sleep_unless_disconnected,
    sse_stream,
)
from agent_offline_model.tokenisation import count_prompt_tokens
from agent_offline_model.wire import (
    ChatCompletionRequest,
    ResponseMeta,
    completion_object,
    error_body,
    model_object,
    plan_completion,
)

log = logging.getLogger("agent_offline_model")


def error_response(
    status: int,
    message: str,
    type_: str,
    code: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(message, type_, code, param), status_code=status, headers=headers)


def _unparsable() -> JSONResponse:
    return error_response(400, "We could not parse the JSON body of your request.", "invalid_request_error")


def _validation_error(exc: ValidationError) -> JSONResponse:
    first = exc.errors()[0]
    param = ".".join(str(part) for part in first["loc"]) or None
    where = f"{param}: " if param else ""
    return error_response(400, f"Invalid request body: {where}{first['msg']}", "invalid_request_error", param=param)


class OfflineModelAPI:
    """The endpoints, sharing one settings object and one fault queue."""

    def __init__(self, settings: OfflineModelSettings, faults: FaultQueue) -> None:
        self.settings = settings
        self.faults = faults
        self.served = Served()

    def _denied(self, request: Request) -> JSONResponse | None:
        """The 401 OpenAI sends for a missing or wrong key, when a key is configured."""
        expected = self.settings.required_api_key()
        if expected is None:
            return None
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode()):
            return None
        message = "Incorrect API key provided." if given else "You didn't provide an API key."
        return error_response(401, message, "invalid_request_error", "invalid_api_key")

    # ---- probes ----

    async def health(self, _: Request) -> Response:
        return JSONResponse({"status": "ok", "model": self.settings.name, "offline": True})

    async def ready(self, _: Request) -> Response:
        """Nothing to wait for: ready as soon as it serves."""
        return JSONResponse({"status": "ready", "model": self.settings.name, "offline": True})

    # ---- models ----

    async def list_models(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        return JSONResponse({"object": "list", "data": [model_object(self.settings.name)]})

    async def get_model(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        name = request.path_params["model"]
        if name != self.settings.name:
            return error_response(
                404, f"The model '{name}' does not exist", "invalid_request_error", "model_not_found", "model"
            )
        return JSONResponse(model_object(name))

    # ---- chat completions ----

    async def chat_completions(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        try:
            body = ChatCompletionRequest.model_validate(await request.json())
        except ValidationError as exc:
            return _validation_error(exc)
        except ValueError:  # not JSON (ValidationError is a ValueError too, hence the order)
            return _unparsable()
        messages = body.message_dicts()
        # Any model name is served: the answer always reports the offline model's own name.
        fault = self._fault_for(messages)

        if fault is not None and (refused := await self._fault_response(fault, request)):
            return refused

        completion = plan_completion(decide(messages, body.tools, body.tool_choice), body.token_limit)
        prompt_tokens = count_prompt_tokens(messages)
        meta = ResponseMeta(model=self.settings.name)
        between_tokens_s = self.settings.token_delay_ms / 1000
        if fault is not None and fault.kind is FaultKind.SLOW:
            between_tokens_s = fault.delay_s
        pacing = Pacing(self.settings.first_token_delay_ms / 1000, between_tokens_s)
        drop = fault is not None and fault.kind is FaultKind.DROP_MID_STREAM

        if body.stream:
            return StreamingResponse(
                sse_stream(
                    meta,
                    completion,
                    prompt_tokens,
                    include_usage=body.include_usage,
                    pacing=pacing,
                    drop=drop,
                    served=self.served,
                ),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        # Not streamed: the whole answer arrives after the time generating it takes.
        if not await sleep_unless_disconnected(request.receive, pacing.total(completion.completion_tokens)):
            return Response(status_code=204)
        payload = completion_object(meta, completion, prompt_tokens)
        self.served.tokens += completion.completion_tokens
        return TruncatedJSONResponse(payload) if drop else JSONResponse(payload)

    async def _fault_response(self, fault: Fault, request: Request) -> Response | None:
        """The response a fault gives instead of an answer, if it does; a stall waits here first."""
        if fault.kind is FaultKind.RATE_LIMIT:
            return error_response(
                429,
                "Rate limit reached for the offline model (injected fault). Please try again later.",
                "rate_limit_error",
                "rate_limit_exceeded",
                headers={"Retry-After": str(fault.retry_after_s)},
            )
        if fault.kind is FaultKind.SERVER_ERROR:
            return error_response(500, "The offline model had an internal error (injected fault).", "server_error")
        if fault.kind is FaultKind.STALL and not await sleep_unless_disconnected(request.receive, fault.delay_s):
            return Response(status_code=204)  # the client gave up; nobody reads this
        return None

    def _fault_for(self, messages: list[dict[str, Any]]) -> Fault | None:
        """A directive in the latest user message wins; otherwise the next queued fault, if any."""
        latest_user = next((message_text(m) for m in reversed(messages) if m.get("role") == "user"), "")
        fault = directive_fault(latest_user)
        source = "directive"
        if fault is None:
            fault, source = self.faults.take(), "admin queue"
        if fault is not None:
            log.warning("injecting fault %s (from the %s)", fault.kind, source)
        return fault

    # ---- what was served ----

    async def stats(self, request: Request) -> Response:
        """Tokens generated since the server started (a test's way to see that generation stopped)."""
        if denied := self._denied(request):
            return denied
        return JSONResponse({"tokens_served": self.served.tokens})

    # ---- fault admin ----

    async def faults_endpoint(self, request: Request) -> Response:
        if denied := self._denied(request):
            return denied
        if request.method == "GET":
            return JSONResponse({"faults": self.faults.pending()})
        if request.method == "DELETE":
            return JSONResponse({"cleared": self.faults.clear(), "faults": []})
        try:
            spec = FaultSpec.model_validate(await request.json())
        except ValidationError as exc:
            return _validation_error(exc)
        except ValueError:
            return _unparsable()
        self.faults.add(spec)
        return JSONResponse({"queued": spec.model_dump(mode="json"), "faults": self.faults.pending()}, status_code=201)


async def _http_error(_: Request, exc: Exception) -> Response:
    """404s and 405s in OpenAI's error shape, like everything else this server says."""
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        raise exc
    type_ = "invalid_request_error" if exc.status_code < 500 else "server_error"
    return error_response(exc.status_code, str(exc.detail), type_, headers=exc.headers)


def create_app(settings: OfflineModelSettings | None = None) -> Starlette:
    """The offline model as an ASGI app; `settings` defaults to the `OFFLINE_MODEL_*` environment."""
    settings = settings or OfflineModelSettings()
    faults = FaultQueue()
    api = OfflineModelAPI(settings, faults)
    app = Starlette(
        routes=[
            Route("/health", api.health, methods=["GET"]),
            Route("/ready", api.ready, methods=["GET"]),
            Route("/v1/models", api.list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", api.get_model, methods=["GET"]),
            Route("/v1/chat/completions", api.chat_completions, methods=["POST"]),
            Route("/admin/faults", api.faults_endpoint, methods=["GET", "POST", "DELETE"]),
            Route("/admin/stats", api.stats, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error},
    )
    # A slash redirect would be absolute and lose the mount prefix; a plain 404 is clearer.
    app.router.redirect_slashes = False
    app.state.settings = settings
    app.state.faults = faults  # in-process tests may queue faults directly
    quiet_drop_tracebacks()
    return app
