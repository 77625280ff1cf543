"""What the board shows, from the store: pure shaping of stored documents into what the
template renders, and the day's fill/odor curves as inline SVG (no script, no CDN).

Everything read here was validated on the way in, but the board still reads defensively
(a database written by an older receiver may hold anything).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

DAY_S = 86400.0
PLOT_W, PLOT_H, PAD = 320, 90, 4


def _dict(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def site_key(doc: dict) -> tuple[str, str]:
    site = _dict(doc.get("site"))
    return (str(site.get("community") or "—"), str(site.get("point_id") or ""))


def incidents_by_site(rows: list[dict], now: float, recent_s: float = DAY_S) -> list[dict]:
    """[{community, point_id, incidents: [...]}]: open ones, and those resolved within recent_s."""
    sites: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        d = _dict(r["doc"])
        if d.get("state") != "open" and now - float(r["received"]) > recent_s:
            continue
        sites.setdefault(site_key(d), []).append({
            "id": str(d.get("id", "")), "rev": d.get("rev"), "type": str(d.get("type", "")),
            "state": str(d.get("state", "")), "severity": str(d.get("severity", "")),
            "device_id": str(d.get("device_id", "")), "opened_at": str(d.get("opened_at", "")),
            "resolved_at": str(d.get("resolved_at") or ""),
            "subject": ", ".join(f"{k}={v}" for k, v in _dict(d.get("subject")).items() if v),
            "measurements": ", ".join(f"{k}={v}" for k, v in _dict(d.get("measurements")).items()),
            "pictures": list(r.get("pictures") or []),
        })
    out = []
    for (community, point), items in sorted(sites.items()):
        items.sort(key=lambda i: (i["state"] != "open", i["opened_at"]), reverse=False)
        out.append({"community": community, "point_id": point, "incidents": items,
                    "open": sum(i["state"] == "open" for i in items)})
    return out


def series(telemetry: list[dict], now: float, span_s: float = DAY_S) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """{'device/sensor': {'fill_pct': [(t, v), ...], 'nh3_ppm': [...]}} over the last span_s, oldest first."""
    out: dict[str, dict[str, list[tuple[float, float]]]] = {}
    timed = sorted(((measured_at(r), r) for r in telemetry), key=lambda tr: tr[0])
    for t, r in timed:
        if not 0 <= now - t <= span_s:
            continue
        d = _dict(r["doc"])
        for sensor, values in _dict(d.get("readings")).items():
            for key, v in _dict(values).items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    out.setdefault(f"{d.get('device_id', '?')}/{sensor}", {}).setdefault(key, []).append((t, float(v)))
    return out


def measured_at(row: dict) -> float:
    """When the box measured it (sent_at), else when it arrived; never in the future (clock skew)."""
    received = float(row["received"])
    try:
        sent = dt.datetime.fromisoformat(str(_dict(row["doc"]).get("sent_at")).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return received
    return min(sent, received)


def plot_svg(points: list[tuple[float, float]], now: float, span_s: float = DAY_S,
             lo: float | None = None, hi: float | None = None) -> str:
    """An SVG polyline of (t, v) over [now - span_s, now]; y from lo..hi (default: the data's range)."""
    if not points:
        return ""
    vals = [v for _, v in points]
    lo = min(vals) if lo is None else lo
    hi = max(vals) if hi is None else hi
    if hi <= lo:
        hi = lo + 1.0
    t0 = now - span_s

    def xy(t: float, v: float) -> str:
        x = PAD + (PLOT_W - 2 * PAD) * max(0.0, min(1.0, (t - t0) / span_s))
        y = PLOT_H - PAD - (PLOT_H - 2 * PAD) * max(0.0, min(1.0, (v - lo) / (hi - lo)))
        return f"{x:.1f},{y:.1f}"

    line = " ".join(xy(t, v) for t, v in points)
    return (f'<svg class="plot" viewBox="0 0 {PLOT_W} {PLOT_H}" width="{PLOT_W}" height="{PLOT_H}" role="img">'
            f'<rect x="0" y="0" width="{PLOT_W}" height="{PLOT_H}" class="frame"/>'
            f'<polyline points="{line}" class="line"/></svg>')


def plots(telemetry: list[dict], now: float) -> list[dict]:
    """Per bin or odor sensor: its curves of the last day, with the latest value."""
    out = []
    for name, keys in sorted(series(telemetry, now).items()):
        for key, pts in sorted(keys.items()):
            if key == "fill_pct":
                kind, svg = "fill", plot_svg(pts, now, lo=0.0, hi=100.0)
            elif key.endswith("_ppm"):
                kind, svg = "odor", plot_svg(pts, now, lo=0.0)
            else:
                continue
            out.append({"name": name, "key": key, "kind": kind, "svg": svg, "latest": pts[-1][1], "count": len(pts)})
    return out


def latest_health(telemetry: list[dict]) -> list[dict]:
    """The newest telemetry of each box: when, and its health block."""
    seen: dict[str, dict] = {}
    for r in sorted(telemetry, key=lambda r: r["received"], reverse=True):
        d = _dict(r["doc"])
        dev = str(d.get("device_id", "?"))
        if dev not in seen:
            h = _dict(d.get("health"))
            seen[dev] = {"device_id": dev, "received": when(r["received"]), "sent_at": str(d.get("sent_at", "")),
                         "health": {k: v for k, v in h.items() if k != "sensors" and not isinstance(v, dict)},
                         "sensors": {str(k): str(v) for k, v in _dict(h.get("sensors")).items()},
                         "faulty": [str(k) for k, v in _dict(h.get("sensors")).items() if v != "ok"]
                         + (["camera"] if h.get("camera") not in (None, "ok") else [])}
    return [seen[k] for k in sorted(seen)]


def daily_rows(daily: list[dict]) -> list[dict]:
    """The newest day of each box, with its bins, waste types, incidents and coverage."""
    seen: dict[str, dict] = {}
    for r in daily:  # newest day first
        d = _dict(r["doc"])
        dev = str(d.get("device_id", "?"))
        if dev in seen:
            continue
        seen[dev] = {"device_id": dev, "date": str(d.get("date", "")),
                     "bins": [{"bin_id": str(k), **_dict(v)} for k, v in sorted(_dict(d.get("bins")).items())],
                     "by_waste_type": {str(k): _dict(v) for k, v in _dict(d.get("by_waste_type")).items()},
                     "incidents": {str(k): _dict(v) for k, v in _dict(d.get("incidents")).items()},
                     "reminders": d.get("reminders", 0), "coverage": _dict(d.get("coverage"))}
    return [seen[k] for k in sorted(seen)]


def when(ts: float) -> str:
    try:
        return dt.datetime.fromtimestamp(float(ts)).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        return "?"
