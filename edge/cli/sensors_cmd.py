"""`gedge sensors …`: list the fill-level and odor sensors, watch their readings, calibrate them."""
from __future__ import annotations

import json
import math
import queue
import statistics
import sys
import threading
import time
from typing import Any

from ..config import ConfigError, locate
from ..i18n import _, pad
from . import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, config_arg, load_config_or_report, print_problems


def register(sub, common) -> None:
    p = sub.add_parser("sensors", parents=[common], help=_("fill-level and odor sensors: list, read, calibrate"))
    cmds = p.add_subparsers(dest="sensors_command", metavar="ACTION", required=True)

    s = cmds.add_parser("list", parents=[common], help=_("the configured sensors and their wiring"))
    s.add_argument("--json", action="store_true", help=_("one JSON object per sensor"))
    s.set_defaults(func=cmd_list)

    s = cmds.add_parser("read", parents=[common], help=_("watch filtered readings (Ctrl-C stops)"))
    s.add_argument("ids", nargs="*", metavar="ID", help=_("only these sensors (default: all)"))
    s.add_argument("--json", action="store_true", help=_("one JSON object per reading: id, kind, raw, value, unit, state"))
    g = s.add_mutually_exclusive_group()
    g.add_argument("--once", action="store_true", help=_("stop after one reading of each sensor (exit 1 if one stays silent)"))
    g.add_argument("--seconds", type=float, metavar="N", help=_("stop after N seconds"))
    s.set_defaults(func=cmd_read)

    s = cmds.add_parser("calibrate", parents=[common],
                        help=_("measure and store a calibration (empty/full distance, or MQ R0 in clean air)"))
    s.add_argument("id", metavar="ID")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--empty", action="store_true", help=_("the bin is empty now: store the distance as empty_mm"))
    g.add_argument("--full", action="store_true", help=_("the bin is as full as it may get: store the distance as full_mm"))
    g.add_argument("--r0", action="store_true", help=_("the MQ sensor is warm and in clean air: store R0"))
    s.add_argument("--value", type=float, help=_("store this value instead of measuring (mm, or kΩ for --r0)"))
    s.add_argument("--samples", type=int, default=10, help=_("readings to take; their median is stored (default 10)"))
    s.add_argument("--dry-run", action="store_true", help=_("measure and print, change nothing"))
    s.set_defaults(func=cmd_calibrate)


def _where(s) -> str:
    if s.port:
        return f"{s.port} @{s.baudrate}"
    if s.driver == "gpio-distance":
        return f"GPIO trig {s.trigger_pin} echo {s.echo_pin}"
    if s.driver == "gpio-digital":
        return f"GPIO {s.pin}"
    if s.driver == "mcp3008-mq":
        return f"MCP3008 ch {s.adc_channel}"
    return _("simulated")


def _calibration(s) -> dict[str, Any]:
    if s.kind == "fill":
        return {"empty_mm": s.empty_mm, "full_mm": s.full_mm}
    if s.curve is not None:
        return {"r0_kohm": s.curve.r0_kohm}
    return {}


def cmd_list(args) -> int:
    cfg = load_config_or_report(args)
    if cfg is None:
        return EXIT_USAGE
    for s in cfg.sensors:
        info = {"id": s.id, "kind": s.kind, "driver": s.driver, "where": _where(s), "bin": s.bin, "gas": s.gas,
                "timeout_s": s.timeout_s, "filters": len(s.filters), **_calibration(s)}
        if args.json:
            print(json.dumps(info, ensure_ascii=False))
        else:
            what = _("bin {id}").format(id=s.bin) if s.kind == "fill" else _("gas {gas}").format(gas=s.gas)
            cal = " ".join(f"{k}={v:g}" for k, v in _calibration(s).items() if v is not None)
            print(f"{s.id:<16} {s.kind:<5} {s.driver:<16} {pad(_where(s), 24)} {pad(what, 12)} {cal}".rstrip())
    if not cfg.sensors and not args.json:
        print(_("no sensors configured (sensors: in the config)"))
    return EXIT_OK


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:g}"


def cmd_read(args) -> int:
    cfg = load_config_or_report(args)
    if cfg is None:
        return EXIT_USAGE
    from ..sensing.manager import SensorManager

    q: queue.Queue = queue.Queue()
    try:
        mgr = SensorManager(cfg, clock=time.time, on_reading=lambda r: q.put(("r", r)),
                            on_event=lambda e: q.put(("e", e)), sensor_ids=args.ids or None)
    except ValueError as e:
        print(_("gedge sensors read: {reason}").format(reason=e), file=sys.stderr)
        return EXIT_USAGE
    if not mgr.sensors:
        print(_("no sensors configured"), file=sys.stderr)
        return EXIT_FAILURE
    pending = {s.id for s in mgr.sensors}
    got = 0
    mgr.start()
    # --once waits as long as the slowest sensor may stay silent before it counts as faulty
    deadline = time.monotonic() + (args.seconds if args.seconds is not None else
                                   max(s.timeout_s for s in mgr.sensors) + 1.0 if args.once else math.inf)
    try:
        while time.monotonic() < deadline and not (args.once and not pending):
            try:
                kind, item = q.get(timeout=min(0.2, max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                continue
            if kind == "e":
                if not args.json:
                    print(f"! {item.action} {item.type} {item.subject.get('sensor_id')} {json.dumps(item.measurements, ensure_ascii=False)}")
                continue
            if args.once and item.sensor_id not in pending:
                continue
            pending.discard(item.sensor_id)
            got += 1
            if args.json:
                d = item.as_dict()
                d["t"] = round(d["t"], 3)
                print(json.dumps(d, ensure_ascii=False), flush=True)
            else:
                print(f"{item.sensor_id:<16} {item.kind:<5} raw {_fmt(item.raw):>8}  {item.quantity} {item.value:g}"
                      f"{item.unit and ' ' + item.unit}  {item.state}", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        snap = mgr.snapshot()
        mgr.stop()
    # counters help find a bad cable (garbled frames, reconnects); with --json on stderr, so
    # stdout stays one reading per line
    for sid, info in snap.items():
        counters = ", ".join(f"{k} {v}" for k, v in info["stats"].items())
        print(f"# {sid}: {info['state']}, driver {info['status']}; {counters}", file=sys.stderr if args.json else sys.stdout)
    if args.once and pending:
        for sid in sorted(pending):
            print(_("{id}: no reading ({status})").format(id=sid, status=snap.get(sid, {}).get("status", "unknown")),
                  file=sys.stderr)
        return EXIT_FAILURE
    if got == 0 and args.seconds is not None:
        print(_("no readings"), file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _measure(cfg, sensor, what: str, n: int) -> tuple[float | None, str]:
    """Median of n raw readings (distance mm, or Rs kΩ for r0), straight from the driver, no filters."""
    from ..sensing.manager import make_driver
    from ..sensing.pipeline import SensorPipeline

    stop = threading.Event()
    driver = make_driver(sensor, stop, time.monotonic, default_scenario=None)
    values: list[float] = []
    start = time.monotonic()
    deadline = start + sensor.timeout_s + n * sensor.poll_s
    try:
        if what == "r0":
            read_rs = getattr(driver, "read_rs_kohm", None)
            if read_rs is None:
                return None, _("driver {driver} has no R0 (only mcp3008-mq does)").format(driver=sensor.driver)
            while len(values) < n and time.monotonic() < deadline:
                rs = read_rs()
                if rs is not None and rs > 0:
                    values.append(rs)
                stop.wait(0.1)
        else:
            pipe = SensorPipeline(sensor, cfg.rules, 0.0)
            while len(values) < n and time.monotonic() < deadline:
                values += [s.value for s in driver.poll(stop) if pipe.accepts(s)]
    finally:
        driver.close()
    if not values:
        return None, _("no reading within {seconds:.0f} s ({status})").format(
            seconds=time.monotonic() - start, status=driver.status())
    return float(statistics.median(values[:n])), _("median of {n} readings").format(n=len(values[:n]))


def cmd_calibrate(args) -> int:
    from ..config.edit import set_key

    cfg = load_config_or_report(args)
    if cfg is None:
        return EXIT_USAGE
    index = next((i for i, s in enumerate(cfg.sensors) if s.id == args.id), None)
    if index is None:
        print(_("gedge sensors calibrate: no sensor with id {id!r}").format(id=args.id), file=sys.stderr)
        return EXIT_USAGE
    sensor = cfg.sensors[index]
    what = "empty" if args.empty else "full" if args.full else "r0"
    if what in ("empty", "full") and sensor.kind != "fill":
        print(_("gedge sensors calibrate: {id} is an odor sensor; --{what} is for fill sensors").format(id=sensor.id, what=what),
              file=sys.stderr)
        return EXIT_USAGE
    if what == "r0" and sensor.driver != "mcp3008-mq":
        print(_("gedge sensors calibrate: --r0 is for MQ sensors on driver mcp3008-mq, {id} uses {driver}").format(
            id=sensor.id, driver=sensor.driver), file=sys.stderr)
        return EXIT_USAGE
    if args.samples < 1:
        print(_("gedge sensors calibrate: --samples must be at least 1"), file=sys.stderr)
        return EXIT_USAGE
    if args.value is not None:
        measured, how = args.value, _("given")
    else:
        measured, how = _measure(cfg, sensor, what, args.samples)
        if measured is None:
            print(f"{sensor.id}: {how}", file=sys.stderr)
            return EXIT_FAILURE
    if what == "r0":
        key, value, unit = f"sensors[{index}].curve.r0_kohm", round(measured / sensor.curve.clean_air_ratio, 3), "kΩ"
        if args.value is not None:
            value = round(measured, 3)  # --value gives R0 itself
    else:
        key, value, unit = f"sensors[{index}].{what}_mm", round(measured), "mm"
    print(f"{sensor.id}: {what} = {value:g} {unit} ({how})")
    if args.dry_run:
        return EXIT_OK
    source = locate(config_arg(args))
    if source.origin == "bundled":
        print(_("no config file to change: copy the bundled default to /etc/garbage-edge/config.yaml "
                "or pass --config PATH"), file=sys.stderr)
        return EXIT_USAGE
    try:
        set_key(source.path, key, value)
    except ConfigError as e:
        return print_problems(e)
    print(f"{source.path}: {key} = {value:g}")
    return EXIT_OK
