"""The HTTP server: the KServe v2 / Open Inference Protocol over FastAPI, plus an image endpoint.

Routes (``{v}``-less forms use the model's highest version):

============================================================== ================================
``GET /v2``, ``/v2/health/live``, ``/v2/health/ready``         server metadata and health
``GET /v2/models/{name}[/versions/{v}]``                       model metadata
``GET /v2/models/{name}[/versions/{v}]/ready``, ``.../config`` readiness; Triton's config
``POST /v2/models/{name}[/versions/{v}]/infer``                inference (JSON or binary data)
``POST /v2/models/{name}[/versions/{v}]/classify?top_k=5``     an image upload -> top-k labels
``GET /metrics``                                               Prometheus metrics
============================================================== ================================

Every error is the protocol's ``{"error": "..."}`` with a 4xx/5xx status (a full queue: 503 and
``Retry-After``); unexpected failures are logged server-side and answered 500 without a
traceback. Each request is logged as one JSON line on the ``mge.serve.access`` logger.

Example:
    >>> app = create_app(discover("mobilenet_v2.mge", ServeDefaults()))  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)                    # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from .batcher import DynamicBatcher
from .image import image_input
from .metrics import CONTENT_TYPE, ServeMetrics
from .model import ServedModel
from .protocol import (
    HEADER_LENGTH,
    ProtocolError,
    classify,
    encode_infer_response,
    parse_infer_request,
    top_k,
)
from .repository import ModelSpec, latest

access_log = logging.getLogger("mge.serve.access")
error_log = logging.getLogger("mge.serve")

#: an endpoint function of the app
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])

SERVER_NAME = "mge"
EXTENSIONS = ["binary_tensor_data", "classification", "model_configuration"]


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    """Limits for every request."""

    request_timeout_s: float = 30.0
    max_request_bytes: int = 64 * 1024 * 1024
    retry_after_s: int = 1


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps({"error": message}), status, headers,
                    media_type="application/json")


class ModelTable:
    """The loaded models and their batchers, by name and version."""

    def __init__(self, specs: Sequence[ModelSpec], metrics: ServeMetrics,
                 settings: ServerSettings) -> None:
        self.latest = latest(specs)
        self.entries: dict[tuple[str, str], tuple[ServedModel, DynamicBatcher]] = {}
        for spec in specs:
            model = ServedModel(spec)
            self.entries[spec.name, spec.version] = (
                model, DynamicBatcher(model, metrics, settings.retry_after_s))
        self.ready = True

    def get(self, name: str, version: str | None) -> tuple[ServedModel, DynamicBatcher]:
        if name not in self.latest:
            raise ProtocolError(404, f"unknown model {name!r}; served: {sorted(self.latest)}")
        entry = self.entries.get((name, version or self.latest[name]))
        if entry is None:
            versions = sorted(v for n, v in self.entries if n == name)
            raise ProtocolError(404, f"model {name!r} has no version {version!r}; versions: "
                                     f"{versions}")
        return entry

    async def stop(self) -> None:
        self.ready = False
        for _, batcher in self.entries.values():
            await batcher.stop()


class AccessMiddleware:
    """Outermost layer: metrics and one JSON access-log line per request; an exception that
    escapes the app becomes a protocol-format 500 (its traceback goes to the server log)."""

    def __init__(self, app: ASGIApp, metrics: ServeMetrics, table: ModelTable) -> None:
        self.app = app
        self.metrics = metrics
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        state = {"status": 500, "started": False, "bytes": 0}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
            elif message["type"] == "http.response.body":
                state["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            error_log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not state["started"]:
                await _error(500, f"internal error: {type(exc).__name__}: {exc}")(
                    scope, receive, watch)
        seconds = time.perf_counter() - start
        route = scope.get("route")
        endpoint = getattr(route, "path", "unmatched")
        name = scope.get("path_params", {}).get("name", "")
        model = name if name in self.table.latest else ""
        if endpoint != "/metrics":
            self.metrics.request_done(endpoint, model, state["status"], seconds)
        client = scope.get("client")
        access_log.info(json.dumps({
            "ts": round(time.time(), 3), "client": f"{client[0]}:{client[1]}" if client else None,
            "method": scope["method"], "path": scope["path"], "status": state["status"],
            "model": model or None, "duration_ms": round(seconds * 1000, 3),
            "response_bytes": state["bytes"]}))


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise ProtocolError(413, f"the request has {length} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProtocolError(413, f"the request exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _upload(request: Request, limit: int) -> bytes:
    """The image bytes of a multipart upload (field ``image``, else the first file) or of
    a raw body."""
    body = await _read_body(request, limit)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        if not body:
            raise ProtocolError(400, "the request has no image: upload it as multipart field "
                                     "'image' or as the raw body")
        return body
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form()
    except Exception as exc:  # python-multipart's errors have no common base
        raise ProtocolError(400, f"malformed multipart upload: {exc}") from None
    files = [v for v in form.values() if hasattr(v, "read")]
    chosen = form.get("image") if hasattr(form.get("image"), "read") else \
        (files[0] if files else None)
    if chosen is None:
        raise ProtocolError(400, "the multipart upload has no file; send the image as field "
                                 "'image'")
    return await chosen.read()  # type: ignore[union-attr]


def _model_route(register: Callable[[str], Callable[[Endpoint], Endpoint]],
                 suffix: str = "") -> Callable[[Endpoint], Endpoint]:
    """Register an endpoint under ``/v2/models/{name}<suffix>`` and under
    ``/v2/models/{name}/versions/{version}<suffix>`` (``register``: ``app.get``...)."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        register(f"/v2/models/{{name}}/versions/{{version}}{suffix}")(endpoint)
        return register(f"/v2/models/{{name}}{suffix}")(endpoint)

    return decorate


def create_app(specs: Sequence[ModelSpec], settings: ServerSettings | None = None) -> ASGIApp:
    """Load ``specs`` and build the ASGI app serving them."""
    settings = settings or ServerSettings()
    metrics = ServeMetrics()
    table = ModelTable(specs, metrics, settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await table.stop()

    app = FastAPI(title="mge serve", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.exception_handler(ProtocolError)
    async def protocol_error(_: Request, exc: ProtocolError) -> Response:
        return _error(exc.status, exc.message, exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _error(400, f"invalid request: {problems}")

    @app.get("/v2")
    async def server_metadata() -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": __version__, "extensions": EXTENSIONS}

    # the protocol's health answers: the status code (what Triton's clients read) and the
    # JSON body of the KServe v2 REST spec (what KServe's client reads)
    @app.get("/v2/health/live")
    async def live() -> Response:
        return Response(json.dumps({"live": True}), media_type="application/json")

    @app.get("/v2/health/ready")
    async def ready() -> Response:
        return Response(json.dumps({"ready": table.ready}), 200 if table.ready else 503,
                        media_type="application/json")

    @_model_route(app.get)
    async def model_metadata(name: str, version: str | None = None) -> dict[str, Any]:
        model, _ = table.get(name, version)
        return model.metadata()

    @_model_route(app.get, "/ready")
    async def model_ready(name: str, version: str | None = None) -> Response:
        table.get(name, version)
        return Response(json.dumps({"name": name, "ready": table.ready}),
                        200 if table.ready else 503, media_type="application/json")

    @_model_route(app.get, "/config")
    async def model_config(name: str, version: str | None = None) -> dict[str, Any]:
        model, _ = table.get(name, version)
        return model.config()

    @_model_route(app.post, "/infer")
    async def infer(name: str, request: Request, version: str | None = None) -> Response:
        model, batcher = table.get(name, version)
        body = await _read_body(request, settings.max_request_bytes)
        parsed = parse_infer_request(body, request.headers.get(HEADER_LENGTH))
        rows = model.check_inputs(parsed.inputs)
        names = [t.name for t in model.outputs]
        wanted = parsed.outputs
        if wanted is not None:
            unknown = [o.name for o in wanted if o.name not in names]
            if unknown:
                raise ProtocolError(400, f"model {name!r} has no outputs {unknown}; outputs: "
                                         f"{names}")
        results = await batcher.infer(parsed.inputs, rows,
                                      parsed.timeout_s or settings.request_timeout_s)
        chosen: list[tuple[str, np.ndarray, bool]] = []
        for out in wanted if wanted is not None else []:
            array = results[out.name]
            if out.classification:
                array = classify(array if model.batching else array[None],
                                 out.classification, model.spec.labels)
            chosen.append((out.name, array, out.binary or parsed.binary_output))
        if wanted is None:
            chosen = [(n, results[n], parsed.binary_output) for n in names]
        content, headers = encode_infer_response(model.name, model.version, parsed.id, chosen)
        return Response(content, headers=headers)

    @_model_route(app.post, "/classify")
    async def classify_image(name: str, request: Request, version: str | None = None,
                             count: int = Query(5, alias="top_k")) -> dict[str, Any]:
        model, batcher = table.get(name, version)
        if count < 1:
            raise ProtocolError(400, f"top_k must be at least 1, got {count}")
        data = await _upload(request, settings.max_request_bytes)
        array = image_input(data, model.inputs, model.spec.image)
        results = await batcher.infer({model.inputs[0].name: array}, 1,
                                      settings.request_timeout_s)
        scores = results[model.classifier_output]
        return {"model_name": model.name, "model_version": model.version,
                "output": model.classifier_output,
                "top_k": top_k(scores[0] if model.batching else scores, count,
                               model.spec.labels)}

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return AccessMiddleware(app, metrics, table)


__all__ = ["AccessMiddleware", "ModelTable", "ServerSettings", "create_app"]
