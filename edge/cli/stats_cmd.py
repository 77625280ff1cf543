"""`gedge stats`: what the room collected on a day, as a table, JSON or a picture of the fill curves."""
from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

from ..i18n import N_, _, pad

WASTE_NAMES = {"wet": N_("wet waste"), "dry": N_("dry waste"), "recyclable": N_("recyclables"),
               "hazardous": N_("hazardous waste")}


def register(sub, common) -> None:
    p = sub.add_parser("stats", parents=[common], help=_("the day's statistics: litres per bin, emptyings, coverage"),
                       description=_("What each bin collected on a day (estimates from the fill level), how often "
                                     "it was emptied, the day's incidents and how much of the day the figures rest "
                                     "on: the daily document the box sends the platform. Reads the state directory "
                                     "the config names; docs/stats.md explains every figure."))
    p.add_argument("--day", metavar="YYYY-MM-DD", help=_("the local date (default: today)"))
    p.add_argument("--json", action="store_true", help=_("print the daily document (garbage-edge/daily@1)"))
    p.add_argument("--plot", metavar="FILE.png", help=_("also draw each bin's fill curve with its emptyings"))
    p.add_argument("--simulate", metavar="SCENARIO",
                   help=_("replay a simulated day (e.g. day_of_collection) in a temporary folder instead"))
    p.set_defaults(func=run)


def run(args) -> int:
    from . import load_config_or_report

    cfg = load_config_or_report(args)
    if cfg is None:
        return 2
    tz = ZoneInfo(cfg.device.timezone)
    try:
        day = dt.date.fromisoformat(args.day).isoformat() if args.day else dt.datetime.now(tz).date().isoformat()
    except ValueError:
        print(_("gedge stats: --day expects a date YYYY-MM-DD, got {value!r}").format(value=args.day), file=sys.stderr)
        return 2
    if args.simulate:
        with tempfile.TemporaryDirectory(prefix="gedge-stats-") as tmp:
            return _simulated(cfg, args, day, Path(tmp))
    return _show(cfg, args, day, Path(cfg.storage.state_dir))


def _simulated(cfg, args, day: str, state_dir: Path) -> int:
    from hw.sim.scenario import ScenarioError

    from ..stats.daily import day_start
    from ..stats.replay import replay_day

    try:
        replay_day(cfg, args.simulate, day_start(day, cfg.device.timezone), state_dir)
    except ScenarioError as e:
        print(_("gedge stats: {problem}").format(problem=e), file=sys.stderr)
        return 2
    return _show(cfg, args, day, state_dir)


def _show(cfg, args, day: str, state_dir: Path) -> int:
    from ..stats.daily import build_daily, day_start
    from ..stats.service import STATE_FILE, accounting_from, fill_bins, load_state

    path = state_dir / STATE_FILE
    if not path.is_file():
        print(_("gedge stats: no statistics at {path} yet (the agent has not run with stats enabled?)").format(path=path),
              file=sys.stderr)
        return 1
    state = load_state(path)
    acc = accounting_from(cfg, state)
    _sensor_bin, bins = fill_bins(cfg)
    incidents = _incidents(state_dir, day_start(day, cfg.device.timezone))
    doc = build_daily(cfg.device.id, day, acc.day(day), bins, cfg.stats.densities_kg_per_l, incidents,
                      cfg.device.timezone)
    if args.plot:
        try:
            _plot(cfg, acc.day(day), day, state_dir, Path(args.plot))
        except OSError as e:
            print(_("gedge stats: cannot write {path}: {reason}").format(path=args.plot, reason=e.strerror or e),
                  file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))
        return 0
    _table(doc, acc.day(day), day in set(state.get("queued") or []))
    if args.plot:
        print(_("fill curves written to {path}").format(path=args.plot))
    return 0


def _incidents(state_dir: Path, since: float) -> list[dict]:
    from ..outbox import OUTBOX_FILE, Outbox, OutboxDamaged

    path = state_dir / OUTBOX_FILE
    if not path.is_file():
        return []
    try:
        box = Outbox(path, dests=(), recover=False)
    except (OutboxDamaged, OSError):
        return []
    try:
        return box.incidents_since(since)
    finally:
        box.close()


def _table(doc: dict, fig, queued: bool) -> None:
    print(_("daily statistics of {date} ({device})").format(date=doc["date"], device=doc["device_id"]))
    heads = [_("bin"), _("waste type"), _("added L"), _("kg (estimate)"), _("emptied"), _("minutes full"),
             _("minutes with data")]
    rows = []
    for bin_id, b in doc["bins"].items():
        bd = fig.bins.get(bin_id)
        rows.append([bin_id, _(WASTE_NAMES[b["waste_type"]]), f"{b['added_l']:.1f}", f"{b['added_kg_est']:.1f}",
                     str(b["emptied"]), str(b["full_minutes"]), str(bd.data_minutes if bd else 0)])
    for t, w in doc["by_waste_type"].items():
        rows.append([_("total"), _(WASTE_NAMES[t]), f"{w['added_l']:.1f}", f"{w['added_kg_est']:.1f}", "", "", ""])
    widths = [max(len_(r[i]) for r in [heads, *rows]) for i in range(len(heads))]
    for r in [heads, *rows]:
        print("  " + "  ".join(pad(c, w) for c, w in zip(r, widths)))
    if not doc["bins"]:
        print("  " + _("no bin has a fill sensor (sensors of kind fill with a bin)"))
    if doc["incidents"]:
        print(_("incidents:"))
        for t, c in doc["incidents"].items():
            median = _("median open {seconds:.0f} s").format(seconds=c["median_open_s"]) if c["median_open_s"] is not None else ""
            print("  " + _("{type}: opened {opened}, resolved {resolved}").format(type=t, opened=c["opened"],
                                                                                resolved=c["resolved"]) + ("; " + median if median else ""))
    print(_("reminders spoken: {n}").format(n=doc["reminders"]))
    cov = doc["coverage"]
    print(_("coverage: {fill} of 1440 minutes with fill data (the fewest of any bin), camera ok {camera} minutes")
          .format(fill=cov["fill_data_minutes"], camera=cov["camera_ok_minutes"]))
    print(_("litres are measured from the fill level; kilograms are estimates from the configured densities"))
    print(_("queued for the platform: yes") if queued else _("queued for the platform: not yet"))


def len_(text: str) -> int:
    from ..i18n import display_width

    return display_width(text)


def cjk_font() -> str | None:
    """The name of an installed font with Chinese glyphs (Noto Sans/Serif CJK first), or None."""
    from matplotlib import font_manager

    names = sorted({f.name for f in font_manager.fontManager.ttflist})
    if not any("CJK" in n for n in names):  # matplotlib's font cache may predate fonts-noto-cjk
        for path in font_manager.findSystemFonts():
            if "CJK" in Path(path).name:
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        names = sorted({f.name for f in font_manager.fontManager.ttflist})
    for want in ("Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei", "Source Han Sans SC"):
        if want in names:
            return want
    return next((n for n in names if "CJK" in n), None)


def _plot(cfg, fig, day: str, state_dir: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    from ..stats.daily import day_start
    from ..stats.series import SERIES_FILE, SeriesStore
    from ..stats.service import fill_bins

    tz = ZoneInfo(cfg.device.timezone)
    font = cjk_font()
    if font:
        plt.rcParams["font.family"] = [font, "DejaVu Sans"]
    sensor_bin, bins = fill_bins(cfg)
    t0 = day_start(day, cfg.device.timezone)
    t1 = t0 + 86400
    series = SeriesStore.open_readonly(state_dir / SERIES_FILE) if (state_dir / SERIES_FILE).is_file() else None
    rows = max(1, len(sensor_bin))
    figure, axes = plt.subplots(rows, 1, figsize=(10, 2.4 * rows + 0.8), sharex=True, squeeze=False)
    try:
        for ax, (sensor_id, bin_id) in zip(axes[:, 0], sensor_bin.items()):
            points = series.read(sensor_id, t0, t1) if series else []
            xs = [dt.datetime.fromtimestamp(t, tz) for t, _v in points]
            ax.plot(xs, [v for _t, v in points], color="#2b6cb0", linewidth=1.2, label=_("fill level"))
            for i, t in enumerate(fig.emptied_at.get(bin_id, [])):
                ax.axvline(dt.datetime.fromtimestamp(t, tz), color="#c53030", linestyle="--", linewidth=1,
                           label=_("emptying (collection)") if i == 0 else None)
            for hhmm in cfg.stats.collection.times(bin_id):
                ax.axvline(dt.datetime.combine(dt.date.fromisoformat(day), hhmm, tz), color="#718096", linestyle=":",
                           linewidth=1)
            ax.axhline(cfg.rules.bin_full.open_pct, color="#dd6b20", linewidth=0.8, linestyle="-.", label=_("bin_full mark"))
            info = bins[bin_id]
            ax.set_title(_("{bin} ({waste}, {capacity:g} L)").format(bin=bin_id, waste=_(WASTE_NAMES[info.waste_type]),
                                                                    capacity=info.capacity_l), fontsize=10)
            ax.set_ylim(0, 105)
            ax.set_ylabel(_("fill %"))
            ax.grid(alpha=0.3)
            ax.legend(loc="upper left", fontsize=8)
        last = axes[-1, 0]
        last.set_xlim(dt.datetime.fromtimestamp(t0, tz), dt.datetime.fromtimestamp(t1, tz))
        last.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))
        last.set_xlabel(_("local time"))
        figure.suptitle(_("fill levels on {date} ({device})").format(date=day, device=cfg.device.id))
        figure.tight_layout()
        figure.savefig(out, dpi=100)
    finally:
        plt.close(figure)
        if series:
            series.close()
