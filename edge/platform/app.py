"""The platform API (platform-api.md) as an ASGI app, and its OpenAPI description.

    POST /v1/incidents                one incident; 201 stored, 409 this or a newer rev held
    PUT  /v1/incidents/{id}/snapshot  image/jpeg; 404 before the incident, 403 another device's
    POST /v1/telemetry                one telemetry document; 202
    POST /v1/daily                    one daily statistics document; idempotent by (device, date)
    GET  /v1/health                   200 {"ok": true} (no token needed)
    GET  /v1/openapi.json             this API, with the contract's document schemas

Any path prefix works (`/api/v1/incidents`). The token, the device identity and the declared
body size are checked by `limits.ApiGuard` before the body is read; here every document is
parsed strictly (UTF-8, finite numbers, bounded depth) and validated against the contract's
models before anything is stored. A bad document is a 400 with the reason, never a 5xx.
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from pydantic import ValidationError
from starlette.responses import JSONResponse

from .. import __version__
from .documents import EXAMPLES, BadDocument, Daily, Incident, Telemetry, parse_json, reason
from .group_commit import GroupCommit, call_store
from .limits import BodyTimeout, BodyTooLarge, json_error
from .storage import ForeignIncident

_DOCS = {"Incident": Incident, "Telemetry": Telemetry, "Daily": Daily}

_REFUSALS = {
    "400": {"description": "not a contract document (the reason is in `error`)"},
    "401": {"description": "missing or wrong bearer token"},
    "403": {"description": "the token belongs to another device than X-Device-Id or the document's device_id"},
    "408": {"description": "the body did not arrive in time"},
    "413": {"description": "body over the size limit"},
    "415": {"description": "wrong Content-Type"},
}
_DEVICE_HEADER = [{"name": "X-Device-Id", "in": "header", "required": True,
                   "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"}}]


def _json_body(model: str) -> dict[str, Any]:
    return {"parameters": _DEVICE_HEADER,
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"},
                                                             "example": EXAMPLES[model]}}},
            "responses": _REFUSALS}


class _Refused(Exception):
    def __init__(self, status: int, error: str):
        self.status, self.error = status, error


async def _body(request: Request, content_type: str) -> bytes:
    if not (request.headers.get("content-type") or "").lower().startswith(content_type):
        raise _Refused(415, f"Content-Type must be {content_type}")
    try:
        return await request.body()
    except BodyTooLarge:
        raise _Refused(413, f"body over the limit of {request.state.body_limit} bytes") from None
    except BodyTimeout:
        raise _Refused(408, "the body did not arrive in time") from None


async def _document(request: Request, model) -> dict[str, Any]:
    """The parsed document (as sent), validated against the contract and the caller's identity."""
    body = await _body(request, "application/json")
    try:
        doc = parse_json(body)
        model.model_validate(doc)
    except BadDocument as e:
        raise _Refused(400, str(e)) from None
    except ValidationError as e:
        raise _Refused(400, reason(e)) from None
    if doc["device_id"] != request.state.device_id:
        raise _Refused(403, "device_id is not the device of this token and X-Device-Id")
    return doc


async def call_direct(handler, scope, receive, send) -> None:
    """Run one of `app.state.direct_routes` as a plain ASGI request."""
    try:
        response = await handler(Request(scope, receive))
    except _Refused as exc:
        headers = {"connection": "close"} if exc.status in (408, 413) else None
        response = JSONResponse({"error": exc.error}, status_code=exc.status, headers=headers)
    await response(scope, receive, send)


def create_app(server) -> FastAPI:
    """`server` gives `store`, `tokens`, `faults`, `limits`, `note()` (see server.ReceiverServer)."""
    app = FastAPI(title="garbage-edge platform API", version=__version__, openapi_url="/v1/openapi.json",
                  docs_url=None, redoc_url=None)

    @app.exception_handler(_Refused)
    async def _refused(request: Request, exc: _Refused):
        headers = {"connection": "close"} if exc.status in (408, 413) else None
        return JSONResponse({"error": exc.error}, status_code=exc.status, headers=headers)

    commits = GroupCommit(lambda: server.store)  # concurrent incident posts share a transaction
    if hasattr(getattr(server, "store", None), "checkpoint_in_background"):
        server.store.checkpoint_in_background()  # SQLite: not inside a post's commit

    @app.get("/v1/health")
    async def health() -> dict:
        return {"ok": True}

    @app.post("/v1/incidents", status_code=201, openapi_extra=_json_body("Incident"),
              responses={201: {"description": "stored"}, 409: {"description": "this or a newer revision is held"}})
    async def post_incident(request: Request):
        doc = await _document(request, Incident)
        try:
            stored, held = await commits.put_incident(doc)
        except ForeignIncident:
            return json_error(403, "this incident belongs to another device")
        if not stored:
            return json_error(409, "this or a newer revision is already held", id=doc["id"], rev=held)
        return JSONResponse({"id": doc["id"], "rev": doc["rev"]}, status_code=201)

    @app.put("/v1/incidents/{incident_id}/snapshot", status_code=201,
             openapi_extra={"parameters": _DEVICE_HEADER,
                            "requestBody": {"required": True, "content": {"image/jpeg": {
                                "schema": {"type": "string", "format": "binary"}}}},
                            "responses": {**_REFUSALS, "404": {"description": "no such incident yet"}}})
    async def put_snapshot(incident_id: str, request: Request):
        body = await _body(request, "image/jpeg")
        if not body.startswith(b"\xff\xd8"):
            return json_error(400, "not a JPEG (no SOI marker)")
        owner = await call_store(server.store, server.store.incident_owner, incident_id)
        if owner is None:
            return json_error(404, "no such incident: post the incident first")
        if owner != request.state.device_id:
            return json_error(403, "this incident belongs to another device")
        sha, role = await call_store(server.store, server.store.put_snapshot, incident_id, body)
        return JSONResponse({"id": incident_id, "sha256": sha, "bytes": len(body), "role": role}, status_code=201)

    @app.post("/v1/telemetry", status_code=202, openapi_extra=_json_body("Telemetry"),
              responses={202: {"description": "stored"}})
    async def post_telemetry(request: Request):
        doc = await _document(request, Telemetry)
        await call_store(server.store, server.store.put_telemetry, doc)
        return JSONResponse({"ok": True}, status_code=202)

    # the hot paths of a draining backlog, called by ApiGuard without FastAPI's routing layers
    # (half the CPU per request); the routes above stay what the OpenAPI description documents
    app.state.direct_routes = {("POST", "/v1/incidents"): post_incident, ("POST", "/v1/telemetry"): post_telemetry}

    @app.post("/v1/daily", status_code=201, openapi_extra=_json_body("Daily"),
              responses={200: {"description": "replaced the earlier copy of that day"},
                         201: {"description": "stored"}})
    async def post_daily(request: Request):
        doc = await _document(request, Daily)
        new = await call_store(server.store, server.store.put_daily, doc)
        return JSONResponse({"device_id": doc["device_id"], "date": doc["date"], "replaced": not new},
                            status_code=201 if new else 200)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(title=app.title, version=app.version, routes=app.routes,
                           description="platform-api v1: what garbage-edge sends")
        spec["paths"] = {p: v for p, v in spec["paths"].items() if p.startswith("/v1/")}
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        for name, model in _DOCS.items():
            js = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
            schemas.update(js.pop("$defs", {}))
            schemas[name] = js
        spec["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        spec["security"] = [{"bearer": []}]
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]

    from .board import mount_board

    mount_board(app, server)
    return app
