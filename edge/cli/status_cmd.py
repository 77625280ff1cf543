"""`gedge status`: the running agent's live state in the terminal (what the console shows), or --json."""
from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Any

from ..i18n import _, display_width, pad
from . import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, load_config_or_report


def register(sub, common) -> None:
    p = sub.add_parser("status", parents=[common], help=_("the running agent's live state: camera, sensors, incidents, uplink"),
                       description=_("Ask the running agent (through its control socket) what it sees now: camera, "
                                     "each sensor's reading, relays, open and recent incidents, the outbox and uplink, "
                                     "the zones it uses. Exit 1 when no agent answers."))
    p.add_argument("--json", action="store_true", help=_("the agent's whole state as JSON"))
    p.set_defaults(func=cmd_status)


def cmd_status(args) -> int:
    from ..paths import control_socket_path
    from ..runtime.control import ControlError, ask

    cfg = load_config_or_report(args)
    if cfg is None:
        return EXIT_USAGE
    path = control_socket_path(cfg.storage)
    try:
        state = ask(path, {"op": "state"})["state"]
    except ControlError as e:
        print(_("gedge status: the agent does not answer ({reason})").format(reason=e.message), file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        print(json.dumps(state, ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(render(state))
    return EXIT_OK


def _clock(ts: float | None, tz: str) -> str:
    if not ts:
        return _("never")
    from zoneinfo import ZoneInfo

    return dt.datetime.fromtimestamp(float(ts), ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 120:
        return _("{n} s").format(n=s)
    if s < 7200:
        return _("{n} min").format(n=s // 60)
    return _("{h} h {m} min").format(h=s // 3600, m=s % 3600 // 60)


def _value(r: dict[str, Any]) -> str:
    if r.get("value") is None:
        return "-"
    return f"{r['value']:g} {r.get('unit') or ''}".strip()


def render(state: dict[str, Any]) -> str:
    """The terminal view of a `state` answer (pure: the same answer gives the same text)."""
    tz = state["device"]["timezone"]
    site = state["device"]["site"]
    agent = state["agent"]
    lines = [f"{state['device']['id']}  {site.get('community', '')} {site.get('point_id', '')}".rstrip()]
    width = 12

    def row(label: str, text: str) -> None:
        lines.append(f"{pad(label, width)}{text}".rstrip())

    row(_("agent"), _("pid {pid}, up {uptime}, config {path} (loaded {when})").format(
        pid=agent.get("pid"), uptime=_duration(agent.get("uptime_s") or 0), path=agent.get("config_path"),
        when=_clock(agent.get("config_loaded_at"), tz)))
    reload = agent.get("last_reload")
    if reload and not reload.get("ok"):
        row("", _("last reload refused at {when}:").format(when=_clock(reload.get("at"), tz)))
        for problem in reload.get("problems", []):
            row("", f"  {problem}")
    cam = state["camera"]
    size = "x".join(str(v) for v in cam["size"]) if cam.get("size") else "-"
    row(_("camera"), f"{cam['status']}  {cam.get('source')}  " + _("{fps} frames/s, {size}").format(
        fps=cam.get("fps") or 0, size=size) + (f"  ({cam['reason']})" if cam.get("reason") else ""))
    row(_("sensors"), "" if state["readings"] else _("none configured"))
    cells = [(r["id"], r["kind"],
              _("bin {id}").format(id=r["bin"]) if r["kind"] == "fill" and r.get("bin") else (r.get("gas") or ""),
              _value(r), r["state"]) for r in state["readings"]]
    widths = [max((display_width(c[i]) for c in cells), default=0) + 2 for i in range(4)]
    for c in cells:
        lines.append("  " + "".join(pad(text, w) for text, w in zip(c, widths)) + c[4])
    relays = ", ".join(f"{x['id']} " + (_("on") if x["on"] else _("off")) + (f" ({x['reason']})" if x.get("reason") else "")
                       for x in state["relays"])
    row(_("relays"), relays or _("none configured"))
    incidents = state["incidents"]
    row(_("incidents"), _("{open} open, {recent} resolved recently").format(
        open=len(incidents["open"]), recent=len(incidents["recent"])))
    for doc in incidents["open"]:
        lines.append(f"  {pad(doc['type'], 18)}{doc['id']}  " + _("since {when}").format(when=doc.get("opened_at", "")))
    for doc in incidents["recent"][:5]:
        lines.append(f"  {pad(doc['type'], 18)}{doc['id']}  " + _("resolved {when}").format(when=doc.get("resolved_at", "")))
    out = state.get("outbox") or {}
    row(_("outbox"), _("{pending} pending, {dead} dead letter(s); last sent {ok}").format(
        pending=out.get("pending", 0), dead=out.get("dead_letters", 0), ok=_clock(out.get("last_ok"), tz)))
    if out.get("last_error"):
        row("", _("last error: {error}").format(error=out["last_error"]))
    z = state["zones"]
    row(_("zones"), _("floor {n} corners; bins {bins} (on a {w}x{h} picture)").format(
        n=len(z["floor"]), bins=", ".join(b["id"] for b in z["bins"]) or "-", w=z["frame"][0], h=z["frame"][1]))
    return "\n".join(lines) + "\n"
