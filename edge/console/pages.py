"""The console's pages (维护控制台): the room on a page, in Chinese or English.

    GET /            overview: the agent, open incidents, outbox and uplink
    GET /zones       the camera picture with the floor and bin zones, edited on the picture
    GET /sensors     fill levels and odor readings live, the last 24 h plotted, calibration
    GET /incidents   open and recent incidents with their pictures, outbox, dead letters
    GET /tools       doctor's checks, speaker and relay tests
    GET /login       the password form (auth.py checks it and keeps the session)
    GET /static/…    the page's own CSS and scripts and the vendored uPlot (no CDN: the box is
                     often offline, and the technician's phone may be too)

The pages are shells: their scripts read the JSON API under /api (api.py) and show what they
get, so that a page never waits on the agent and shows the room live. What the scripts say is
translated here and handed to them in the page (`data-text`), so that one catalogue serves both.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.staticfiles import StaticFiles

from .. import i18n
from ..i18n import N_
from ..webpage import Pages, labels, page_response, pick_language

HERE = Path(__file__).parent
PAGES = Pages(HERE / "templates")
DEFAULT_LANGUAGE = "zh"  # the people in the garbage room read Chinese first

router = APIRouter(include_in_schema=False)
router.mount("/static", StaticFiles(directory=str(HERE / "static")), name="console-static")

# (path, template, navigation title)
NAV = [
    ("/", "overview.html", N_("Overview")),
    ("/zones", "zones.html", N_("Zones")),
    ("/sensors", "sensors.html", N_("Sensors")),
    ("/incidents", "incidents.html", N_("Incidents")),
    ("/tools", "tools.html", N_("Tools")),
]

# what the page scripts say, by key
SCRIPT_TEXT = {
    "agent_down": N_("The agent is not running or does not answer: start it with `systemctl start garbage-edge`."),
    "loading": N_("Loading…"),
    "none": N_("none"),
    "yes": N_("Yes"),
    "no": N_("No"),
    "failed": N_("The request failed: {message}"),
    "saved_wait": N_("Saved. The agent is reloading the config…"),
    "saved_active": N_("The agent uses the new zones: they are drawn on the new picture."),
    "saved_not_active": N_("Saved, but the agent does not report the new zones yet: check `gedge status` and the log."),
    "saved_no_agent": N_("Saved. The agent is not running: it uses the new zones when it starts."),
    "refused": N_("Not saved: the file is unchanged. Fix what is marked and save again."),
    "unsaved": N_("Changes not saved yet."),
    "drawing": N_("Click on the picture to place the corners one by one, then press Done (or click the first corner)."),
    "editing": N_("Drag a corner to move it; click on the picture to add a corner; double-click a corner to remove it."),
    "floor": N_("Floor"),
    "bin": N_("Bin {id}"),
    "corners": N_("{n} corners"),
    "confirm_remove_bin": N_("Remove the zone of bin {id}?"),
    "confirm_empty": N_("Is bin {bin} empty right now? Its sensor's current distance becomes 'empty'."),
    "confirm_full": N_("Is bin {bin} full right now? Its sensor's current distance becomes 'full'."),
    "calibrated": N_("Calibrated. The agent is reloading the config."),
    "odor": N_("odor"),
    "fill_pct": N_("fill %"),
    "no_history": N_("No history yet: the plot fills as readings arrive."),
    "no_incidents": N_("No open incidents."),
    "no_recent": N_("Nothing resolved recently."),
    "no_deadletters": N_("No dead letters."),
    "retried": N_("Queued again: the uplink sends it with the next delivery."),
    "no_picture": N_("no picture"),
    "opened": N_("opened {when}"),
    "resolved_at": N_("resolved {when}"),
    "checks_ok": N_("All checks passed."),
    "checks_bad": N_("{n} checks need attention."),
    "checks_bad_one": N_("1 check needs attention."),
    "spoken": N_("The speaker is playing the test phrase."),
    "relay_on": N_("Relay {id} is on for a few seconds."),
    "no_relays": N_("No relays configured."),
    "retry": N_("Retry"),
    "uptime": N_("{h} h {m} min"),
    "seconds": N_("{s} s"),
    "done": N_("Done"),
    "redraw": N_("Redraw"),
    "remove_corner": N_("Remove corner"),
    "remove_bin": N_("Remove zone"),
    "picture_at": N_("picture of {when}"),
    "cal_empty": N_("The bin is empty now"),
    "cal_full": N_("The bin is full now"),
    "distance": N_("distance {mm} mm"),
    "relay_test": N_("Test relay {id}"),
    "k_device": N_("device"),
    "k_site": N_("site"),
    "k_kind": N_("kind"),
    "k_when": N_("when"),
    "k_error": N_("error"),
}

# the states the agent reports (sensors, camera) as people read them
STATE_TEXT = {
    "ok": N_("ok"), "fault": N_("fault"), "full": N_("full"), "high": N_("high"),
    "warmup": N_("warming up"), "starting": N_("starting"),
}

# the agent's field names as people read them (the rest are shown as they are)
KEY_TEXT = {
    "pid": N_("process id"), "version": N_("version"), "config_path": N_("config file"),
    "started_at": N_("started"), "config_loaded_at": N_("config loaded"), "last_reload": N_("last reload"),
    "simulation": N_("simulated room"), "uptime_s": N_("running for"), "events": N_("events"),
    "incidents_opened": N_("incidents opened"), "incidents_resolved": N_("incidents resolved"),
    "camera": N_("camera"), "sensors": N_("sensors"), "sensor_counters": N_("sensor counters"),
    "voice": N_("voice"), "relays": N_("relays"), "open_incidents": N_("open incidents"),
    "dropped_events": N_("dropped events"), "disk_free_mb": N_("free disk (MB)"), "cpu_temp_c": N_("CPU temperature (°C)"),
    "storage": N_("storage"), "pending": N_("waiting to be sent"), "dead_letters": N_("dead letters"),
    "telemetry_backlog": N_("telemetry backlog"), "last_ok": N_("last delivery"), "last_error": N_("last error"),
    "destinations": N_("destinations"), "ok": N_("ok"), "error": N_("error"), "at": N_("at"),
    "problems": N_("problems"), "dwell_s": N_("on the floor for"), "count": N_("count"),
    "seen_by": N_("seen by"), "fill_pct": N_("fill %"), "reason": N_("reason"),
    "status": N_("status"), "source": N_("source"), "fps": N_("frames per second"), "size": N_("picture size"),
}


@functools.lru_cache(maxsize=len(i18n.LANGUAGES))
def _script_data(lang: str) -> str:
    """What the page scripts say and show, in `lang`, as JSON for the page's data-text."""
    tr = i18n.translations(lang).gettext
    return json.dumps({"lang": lang, "labels": labels(lang),
                       "text": {key: tr(msg) for key, msg in SCRIPT_TEXT.items()},
                       "keys": {key: tr(msg) for key, msg in KEY_TEXT.items()},
                       "states": {key: tr(msg) for key, msg in STATE_TEXT.items()}}, ensure_ascii=False)


def _render(request: Request, template: str, title: str, status: int = 200, **context):
    lang = pick_language(request, DEFAULT_LANGUAGE)
    # the language links keep the rest of the query (the login's `next`)
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    switch = {code: "?" + urlencode({**query, "lang": code}) for code in i18n.LANGUAGES}
    html = PAGES.render(template, lang, nav=NAV, path=request.url.path, title=title, switch=switch,
                        user=getattr(request.state, "user", None), text_json=_script_data(lang), **context)
    return page_response(request, html, lang, status)


def _add_page(path: str, template: str, title: str) -> None:
    async def show(request: Request):
        return _render(request, template, title)

    router.add_api_route(path, show, methods=["GET"], name=f"console-{template.split('.')[0]}")


for _path, _template, _title in NAV:
    _add_page(_path, _template, _title)


@router.get("/login", name="console-login")
async def login_form(request: Request, failed: int = 0, next: str = "/"):
    # only a page of this console (not "//host" or "/\\host", which browsers send elsewhere)
    safe_next = next if next.startswith("/") and not next.startswith("//") and "\\" not in next else "/"
    return _render(request, "login.html", N_("Log in"), status=401 if failed else 200,
                   failed=bool(failed), next=safe_next)


__all__ = ["router", "NAV"]
