"""The console's JSON API under /api: the agent's live state through its control socket, config
changes through the config layer (validated, comments kept, atomic, backed up), then SIGHUP.

    GET  /api/health                        {"ok": true} (open without a login: "is it up")
    GET  /api/state                         the agent's `state` (503 when it does not answer)
    GET  /api/frame.jpg                     the newest camera frame, as it came (no drawing)
    GET  /api/zones                         the zones in the file, and those the agent uses now ("active")
    PUT  /api/zones                         {"floor": [[x, y], …], "bins": [{"id", "polygon"}, …]}
    GET  /api/history?sensor=ID&hours=24    per-minute values (edge.stats.series) + the live reading
    POST /api/sensors/{id}/calibrate        {"point": "empty" | "full"}: the agent's newest raw distance
    GET  /api/incidents/{id}/picture.jpg    an open or recent incident's evidence picture
    GET  /api/deadletters                   the outbox's dead letters
    POST /api/deadletters/{seq}/retry       back into the queue
    POST /api/doctor                        doctor's checks (camera and sensors: live, from the agent)
    POST /api/test/speaker                  the test phrase through the agent's voice worker
    POST /api/test/relay/{id}               {"seconds": 5}: the relay on for a few seconds, through its policy

Errors: {"errors": [{"path": KEY or null, "message": TEXT}]} in the request's language.
Every call that needs the agent or the disk runs in the thread pool, never on the event loop.
"""
from __future__ import annotations

import base64
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import i18n
from ..config import Config, ConfigError, load_file
from ..config.edit import set_key, set_keys
from ..i18n import N_, _
from ..paths import control_socket_path
from ..runtime.control import ControlError, ask
from ..webpage import pick_language

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # a zones document is a few hundred bytes
MAX_POINTS = 64  # corners per polygon the page may send
MAX_BINS = 32
ASK_TIMEOUT_S = 3.0
HISTORY_MAX_H = 72.0
DEFAULT_LANGUAGE = "zh"
# why the agent refused a request (edge.runtime.control's codes), as people read it
REFUSALS = {
    "unknown_relay": N_("no such relay in the agent's config"),
    "busy": N_("the relay is on already"),
    "min_off": N_("the relay is inside its minimum off time (actuators: min_off_s): try again later"),
}


class ApiError(Exception):
    def __init__(self, status: int, errors: list[tuple[str | None, str]]):
        super().__init__(errors[0][1] if errors else "")
        self.status = status
        self.errors = errors


def errors_response(status: int, errors: list[tuple[str | None, str]]) -> JSONResponse:
    return JSONResponse({"errors": [{"path": p, "message": m} for p, m in errors]}, status_code=status)


class ConsoleContext:
    """The config file the console edits, and the agent it talks to (found by that config)."""

    def __init__(self, config_path: str | os.PathLike):
        self.config_path = Path(config_path)
        self._cfg: Config | None = None
        self._stamp: tuple[int, int] | None = None

    def config(self) -> Config:
        """The config as the file says now (re-read when it changed). A file broken by hand keeps
        the last good one in use here; with none, ApiError 503 names the problems."""
        try:
            st = self.config_path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if self._cfg is None or stamp != self._stamp:
            try:
                self._cfg, self._stamp = load_file(self.config_path), stamp
            except ConfigError as e:
                if self._cfg is None:
                    raise ApiError(503, e.details) from None
                log.warning("config %s does not validate now; using the last good one", self.config_path)
        return self._cfg

    def socket(self) -> Path:
        return control_socket_path(self.config().storage)

    def ask(self, request: dict[str, Any], timeout_s: float = ASK_TIMEOUT_S) -> dict[str, Any]:
        """One control request; ApiError 503 when no agent answers, 409 when it refuses."""
        try:
            return ask(self.socket(), request, timeout_s)
        except ControlError as e:
            if e.code in ("no_agent", "timeout", "bad_answer", "starting"):
                raise ApiError(503, [(None, _("the agent does not answer ({reason}): is it running? "
                                              "`systemctl status garbage-edge`").format(reason=e.message))]) from None
            if e.code == "no_frame":
                raise ApiError(503, [(None, _("no camera picture yet"))]) from None
            text = REFUSALS.get(e.code)
            raise ApiError(409, [(None, _(text) if text else e.message)]) from None

    def state(self) -> dict[str, Any]:
        return self.ask({"op": "state"})["state"]

    def reload_agent(self) -> bool:
        """SIGHUP to the running agent (it re-reads the file); False when none answers."""
        try:
            pid = int(self.state()["agent"]["pid"])
            os.kill(pid, signal.SIGHUP)
        except (ApiError, KeyError, TypeError, ValueError, ProcessLookupError, PermissionError) as e:
            log.warning("config saved, but the agent was not told to reload (%s)", e)
            return False
        log.info("config saved; SIGHUP sent to the agent (pid %d)", pid)
        return True

    def file_bins(self) -> list[Any]:
        """zones.bins as written in the file (not the defaults the config model fills in)."""
        from ..config.loader import parse_yaml, read_config_text, to_plain

        try:
            tree = to_plain(parse_yaml(read_config_text(self.config_path), str(self.config_path)))
        except ConfigError as e:
            raise ApiError(422, e.details) from None
        zones = tree.get("zones") if isinstance(tree.get("zones"), dict) else {}
        bins = zones.get("bins")
        return bins if isinstance(bins, list) else []

    def write(self, changes: list[tuple[str, Any]]) -> None:
        """Through the config layer: the whole file validated, comments kept, backed up, atomic.
        ApiError 422 with each problem at its key; the file is untouched then."""
        try:
            set_keys(self.config_path, changes) if len(changes) > 1 else set_key(self.config_path, *changes[0])
        except ConfigError as e:
            raise ApiError(422, e.details) from None
        except OSError as e:
            raise ApiError(500, [(None, _("{path}: cannot write: {reason}").format(
                path=self.config_path, reason=e.strerror or e))]) from None


# ---------------------------------------------------------------------------- checking input

def _polygon(value: Any, path: str) -> list[list[float]]:
    if not isinstance(value, list) or len(value) > MAX_POINTS:
        raise ApiError(422, [(path, _("expected a list of at most {n} [x, y] points").format(n=MAX_POINTS))])
    out = []
    for point in value:
        if (not isinstance(point, list) or len(point) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point)):
            raise ApiError(422, [(path, _("expected a list of at most {n} [x, y] points").format(n=MAX_POINTS))])
        out.append([round(float(point[0]), 1), round(float(point[1]), 1)])
    return out


def merge_bins(old: list[Any], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bins to write: the page sends only id and polygon, so every other key of a bin in the
    file (waste_type, capacity_l, …) is kept: from the bin with the same id, else (a renamed bin)
    from the bin at the same place in the list whose id the page no longer sends."""
    old = [b for b in old if isinstance(b, dict)]
    by_id = {b.get("id"): b for b in old}
    sent = {b["id"] for b in new}
    out = []
    for i, b in enumerate(new):
        base = by_id.get(b["id"])
        if base is None and i < len(old) and old[i].get("id") not in sent:
            base = old[i]
        out.append({**(base or {}), "id": b["id"], "polygon": b["polygon"]})
    return out


def zone_changes(body: Any, old_bins: list[Any] = ()) -> list[tuple[str, Any]]:
    """The config changes a PUT /api/zones body asks for (its shape checked; the values are the
    config layer's to judge). old_bins: zones.bins as the file has it now."""
    if not isinstance(body, dict) or not set(body) <= {"floor", "bins"} or not body:
        raise ApiError(422, [("zones", _('expected {"floor": [[x, y], …], "bins": [{"id": …, "polygon": …}, …]}'))])
    changes: list[tuple[str, Any]] = []
    if "floor" in body:
        changes.append(("zones.floor", _polygon(body["floor"], "zones.floor")))
    if "bins" in body:
        bins = body["bins"]
        if not isinstance(bins, list) or len(bins) > MAX_BINS:
            raise ApiError(422, [("zones.bins", _("expected a list of at most {n} bins").format(n=MAX_BINS))])
        out = []
        for i, b in enumerate(bins):
            if not isinstance(b, dict) or not isinstance(b.get("id"), str) or set(b) - {"id", "polygon"}:
                raise ApiError(422, [(f"zones.bins[{i}]", _('expected {"id": …, "polygon": [[x, y], …]}'))])
            out.append({"id": b["id"], "polygon": _polygon(b.get("polygon"), f"zones.bins[{i}].polygon")})
        changes.append(("zones.bins", merge_bins(list(old_bins), out)))
    return changes


async def _json_body(request: Request) -> Any:
    import json

    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise ApiError(413, [(None, _("the request is too large"))])
    if not body:
        return {}
    try:
        return json.loads(body)
    except ValueError:
        raise ApiError(400, [(None, _("the request body is not JSON"))]) from None


# ---------------------------------------------------------------------------- the routes

def make_router(ctx: ConsoleContext) -> APIRouter:
    router = APIRouter(prefix="/api")

    async def call(request: Request, fn, *args):
        """fn(*args) in the thread pool, in the request's language; ApiError -> its JSON errors."""
        lang = pick_language(request, DEFAULT_LANGUAGE)

        def run():
            with i18n.language(lang):
                return fn(*args)

        try:
            return await run_in_threadpool(run)
        except ApiError as e:
            with i18n.language(lang):
                return errors_response(e.status, e.errors)

    async def body_of(request: Request):
        try:
            return await _json_body(request)
        except ApiError as e:
            with i18n.language(pick_language(request, DEFAULT_LANGUAGE)):
                return errors_response(e.status, e.errors)

    @router.get("/health")
    async def health():
        return {"ok": True}

    @router.get("/state")
    async def state(request: Request):
        return await call(request, ctx.state)

    @router.get("/frame.jpg")
    async def frame(request: Request):
        def get():
            answer = ctx.ask({"op": "frame"})
            return Response(base64.b64decode(answer["jpeg_b64"]), media_type="image/jpeg",
                            headers={"cache-control": "no-store", "x-frame-time": str(answer["t"])})

        return await call(request, get)

    def zones_now() -> dict[str, Any]:
        from ..runtime.control_state import zones_view

        view = zones_view(ctx.config())
        try:
            view["active"] = ctx.state()["zones"]
        except ApiError:
            view["active"] = None  # no agent: nothing is active
        return view

    @router.get("/zones")
    async def zones(request: Request):
        return await call(request, zones_now)

    @router.put("/zones")
    async def put_zones(request: Request):
        body = await body_of(request)
        if isinstance(body, Response):
            return body

        def save():
            ctx.write(zone_changes(body, ctx.file_bins()))
            return {"saved": True, "reloading": ctx.reload_agent()}

        return await call(request, save)

    def history(sensor: str, hours: float) -> dict[str, Any]:
        from ..stats.series import SeriesStore, default_path

        cfg = ctx.config()
        s = next((s for s in cfg.sensors if s.id == sensor), None)
        if s is None:
            raise ApiError(404, [("sensor", _("no sensor with id {id!r}").format(id=sensor))])
        now = time.time()
        since = now - max(0.0, min(hours, HISTORY_MAX_H)) * 3600
        try:
            with SeriesStore.open_readonly(default_path(cfg)) as store:
                points = [[t, v] for t, v in store.read(sensor, since, now)]
                quantity = store.quantities().get(sensor)
        except FileNotFoundError:
            points, quantity = [], None
        try:  # the curve ends at the newest reading, not at the last whole minute
            live = next((r for r in ctx.state()["readings"] if r["id"] == sensor), None)
        except ApiError:
            live = None
        if live and live.get("value") is not None and live.get("t") and (not points or live["t"] > points[-1][0]):
            points.append([live["t"], live["value"]])
            quantity = quantity or live.get("quantity")
        quantity = quantity or ("fill_pct" if s.kind == "fill" else f"{s.gas}_ppm")
        unit = "%" if quantity == "fill_pct" else "" if quantity.endswith("_alarm") else "ppm"
        return {"sensor": sensor, "quantity": quantity, "unit": unit, "points": points}

    @router.get("/history")
    async def get_history(request: Request, sensor: str, hours: float = 24.0):
        return await call(request, history, sensor, hours)

    def calibrate(sensor_id: str, point: Any) -> dict[str, Any]:
        if point not in ("empty", "full"):
            raise ApiError(422, [("point", _('expected "empty" or "full"'))])
        cfg = ctx.config()
        index = next((i for i, s in enumerate(cfg.sensors) if s.id == sensor_id), None)
        if index is None:
            raise ApiError(404, [(None, _("no sensor with id {id!r}").format(id=sensor_id))])
        if cfg.sensors[index].kind != "fill":
            raise ApiError(422, [(f"sensors[{index}]", _("{id} is an odor sensor: empty and full are for fill sensors")
                                  .format(id=sensor_id))])
        reading = next((r for r in ctx.state()["readings"] if r["id"] == sensor_id), None)
        if reading is None or reading.get("raw") is None:
            raise ApiError(409, [(None, _("{id} has no reading yet: wait for one and try again").format(id=sensor_id))])
        key, value = f"sensors[{index}].{point}_mm", round(float(reading["raw"]))
        ctx.write([(key, value)])
        return {"saved": True, "key": key, "value": value, "reloading": ctx.reload_agent()}

    @router.post("/sensors/{sensor_id}/calibrate")
    async def post_calibrate(sensor_id: str, request: Request):
        body = await body_of(request)
        if isinstance(body, Response):
            return body
        return await call(request, calibrate, sensor_id, body.get("point") if isinstance(body, dict) else None)

    def picture(incident_id: str) -> Response:
        incidents = ctx.state()["incidents"]
        doc = next((d for d in incidents["open"] + incidents["recent"] if d.get("id") == incident_id), None)
        sha = ((doc or {}).get("snapshot") or {}).get("sha256")
        if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ApiError(404, [(None, _("no picture for incident {id}").format(id=incident_id))])
        path = Path(ctx.config().storage.state_dir) / "snapshots" / f"{sha}.jpg"
        try:
            data = path.read_bytes()
        except OSError:
            raise ApiError(404, [(None, _("no picture for incident {id}").format(id=incident_id))]) from None
        return Response(data, media_type="image/jpeg", headers={"cache-control": "private, max-age=3600"})

    @router.get("/incidents/{incident_id}/picture.jpg")
    async def get_picture(incident_id: str, request: Request):
        return await call(request, picture, incident_id)

    def outbox():
        from ..outbox import Outbox, OutboxDamaged, default_path

        path = default_path(ctx.config())
        if not path.is_file():
            return None
        try:
            return Outbox(path, dests=(), recover=False)
        except OutboxDamaged as e:  # looked at, never changed: the agent moves it aside
            raise ApiError(503, [(None, _("the outbox is damaged ({problem})").format(problem=e))]) from None

    def dead_letters() -> dict[str, Any]:
        box = outbox()
        if box is None:
            return {"dead_letters": []}
        try:
            rows = box.dead_letters(limit=200)
        finally:
            box.close()
        for r in rows:
            r["response"] = " ".join((r.get("response") or "").split())[:500]
        return {"dead_letters": rows}

    @router.get("/deadletters")
    async def get_dead(request: Request):
        return await call(request, dead_letters)

    def retry(seq: int) -> dict[str, Any]:
        box = outbox()
        try:
            n = box.retry_dead([seq]) if box is not None else 0
        finally:
            if box is not None:
                box.close()
        if not n:
            raise ApiError(404, [(None, _("no dead letter numbered {numbers}: `gedge outbox dead` lists them")
                                  .format(numbers=f"#{seq}"))])
        return {"requeued": n}

    @router.post("/deadletters/{seq}/retry")
    async def post_retry(seq: int, request: Request):
        return await call(request, retry, seq)

    @router.post("/doctor")
    async def doctor(request: Request):
        return await call(request, run_doctor, ctx)

    @router.post("/test/speaker")
    async def speaker(request: Request):
        return await call(request, lambda: ctx.ask({"op": "speak"}))

    @router.post("/test/relay/{relay_id}")
    async def relay(relay_id: str, request: Request):
        body = await body_of(request)
        if isinstance(body, Response):
            return body
        seconds = body.get("seconds", 5) if isinstance(body, dict) else 5
        return await call(request, lambda: ctx.ask({"op": "relay_test", "relay": relay_id, "seconds": seconds}))

    return router


DOCTOR_TIMEOUT_S = 120.0


def doctor_checks(config_path: Path, only: tuple[str, ...]) -> list[Any]:
    """`gedge doctor --json --only …` in a child process, its checks read back."""
    import json
    import subprocess
    import sys

    from ..runtime.doctor import FAIL, Check

    argv = [sys.executable, "-m", "edge", "--config", str(config_path), "--lang", i18n.current_language(),
            "doctor", "--json"] + [a for name in only for a in ("--only", name)]
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=DOCTOR_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return [Check("doctor", FAIL, str(e))]
    checks = []
    for line in run.stdout.splitlines():
        try:
            d = json.loads(line)
            checks.append(Check(str(d["name"]), str(d["status"]), str(d["detail"])))
        except (ValueError, KeyError, TypeError):
            continue
    if not checks:  # it could not even start: say why
        return [Check("doctor", FAIL, (run.stderr.strip().splitlines() or [f"exit {run.returncode}"])[-1])]
    return checks


def run_doctor(ctx: ConsoleContext) -> dict[str, Any]:
    """Doctor's checks from the page. The agent holds the camera, the serial ports and the speaker
    (and the console's unit sees no devices), so those come from what the running agent reports
    live; the rest are `gedge doctor`'s own, run as a child process (the detector check loads the
    model: its memory goes with the child). Without an agent the live ones are left out, and the
    answer says to start it or to run `sudo gedge doctor`."""
    from ..cli.doctor_cmd import check_name
    from ..runtime.doctor import FAIL, OK, WARN, Check

    try:
        state = ctx.state()
    except ApiError:
        state = None
    results = doctor_checks(ctx.config_path, ("clock", "disk", "detector", "platform", "outbox"))
    if state is None:
        results.append(Check("agent", FAIL, _("the agent is not running: the page checks the camera, sensors and "
                                               "speaker through it; start it, or run `sudo gedge doctor`")))
    else:
        cam = state["camera"]
        status = OK if cam["status"] == "ok" else WARN if cam["status"] == "starting" else FAIL
        results.append(Check("camera", status, _("live from the agent: {status}, {fps} frames/s{reason}").format(
            status=cam["status"], fps=cam.get("fps") or 0,
            reason=f" ({cam['reason']})" if cam.get("reason") else "")))
        for r in state["readings"]:
            value = "-" if r.get("value") is None else f"{r['value']:g} {r.get('unit') or ''}".strip()
            results.append(Check(f"sensor {r['id']}", FAIL if r["state"] == "fault" else OK,
                                 _("live from the agent: {state}, {value} (driver {status})").format(
                                     state=r["state"], value=value, status=r.get("status"))))
        voice = state["health"].get("voice", {})
        failed = voice.get("failed") or voice.get("render_failed")
        results.append(Check("speaker", WARN if failed else OK, _(
            "live from the agent: {played} played, {failed} failed{error}; the speaker test button plays the "
            "test phrase").format(played=voice.get("played", 0), failed=voice.get("failed", 0),
                                  error=f" ({voice['last_error']})" if voice.get("last_error") else "")))
    return {"agent_running": state is not None,
            "checks": [{"id": c.name, "name": check_name(c.name), "ok": c.status != FAIL, "level": c.status,
                        "message": c.detail} for c in results]}
