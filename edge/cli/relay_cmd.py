"""`gedge relay on|off|status ID`: drive the deodorizer / fan relay by hand (maintenance).

`on` switches the relay on for --for seconds (default 10; Ctrl-C ends it sooner) and then off
again: a GPIO pin is released when the command ends, so a relay cannot be left on by it.
Stop the agent first (`systemctl stop garbage-edge`): while it runs it holds the pin.
`status` shows the configuration and the last recorded switch (by the agent or this command).
"""
from __future__ import annotations

import datetime as dt
import json
import sys
import time

from ..config import ConfigError, load_config
from ..i18n import _
from . import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, config_arg, print_problems


def register(sub, common) -> None:
    p = sub.add_parser("relay", parents=[common], help=_("switch or inspect a relay (deodorizer, fan)"))
    cmds = p.add_subparsers(dest="relay_command", metavar="ACTION", required=True)

    s = cmds.add_parser("on", parents=[common], help=_("switch on for a while, then off again"))
    s.add_argument("id", help=_("the actuators entry's id"))
    s.add_argument("--for", dest="for_s", type=float, default=10.0, metavar="SECONDS",
                   help=_("how long to keep it on (default 10)"))
    s.add_argument("--force", action="store_true", help=_("ignore the minimum off time"))
    s.set_defaults(func=cmd_on)

    s = cmds.add_parser("off", parents=[common], help=_("switch off now"))
    s.add_argument("id")
    s.set_defaults(func=cmd_off)

    s = cmds.add_parser("status", parents=[common], help=_("configuration and last recorded state"))
    s.add_argument("id", nargs="?", help=_("one actuator (default: all)"))
    s.add_argument("--json", action="store_true", help=_("one JSON object per actuator"))
    s.set_defaults(func=cmd_status)


def _load(args):
    try:
        cfg = load_config(config_arg(args))
    except ConfigError as e:
        print_problems(e)
        return None, None, EXIT_USAGE
    if getattr(args, "id", None) is None:
        return cfg, None, EXIT_OK
    for a in cfg.actuators:
        if a.id == args.id:
            return cfg, a, EXIT_OK
    known = ", ".join(a.id for a in cfg.actuators) or _("none configured")
    print(_("gedge relay: no actuator {id!r} (known: {known})").format(id=args.id, known=known), file=sys.stderr)
    return None, None, EXIT_USAGE


def _open(a):
    from hw.actuators import RelayError, open_relay

    try:
        return open_relay(a.driver, a.pin, a.active_high)
    except RelayError as e:
        print(_("gedge relay: {reason}\n(is the agent running? it holds the pin: systemctl stop garbage-edge)").format(
            reason=e), file=sys.stderr)
        return None


def _record(cfg, a, on: bool, reason: str) -> None:
    from ..actuators import relay_state_dir, write_state

    write_state(relay_state_dir(cfg) / f"{a.id}.json",
                {"id": a.id, "on": on, "reason": reason, "at": time.time(), "by": "cli",
                 "driver": a.driver, "pin": a.pin})


def cmd_on(args) -> int:
    from ..actuators import read_state, relay_state_dir

    cfg, a, rc = _load(args)
    if a is None:
        return rc
    if args.for_s <= 0:
        print(_("gedge relay: --for must be more than 0 seconds"), file=sys.stderr)
        return EXIT_USAGE
    last = read_state(relay_state_dir(cfg) / f"{a.id}.json")
    if last and not last.get("on") and not args.force:
        left = a.min_off_s - (time.time() - float(last.get("at") or 0))  # at None: never switched
        if left > 0:
            print(_("gedge relay: {id} was switched off {ago:.0f} s ago; min_off_s is {min_off:g} s: "
                    "wait {left:.0f} s or use --force").format(id=a.id, ago=a.min_off_s - left, min_off=a.min_off_s, left=left),
                  file=sys.stderr)
            return EXIT_FAILURE
    relay = _open(a)
    if relay is None:
        return EXIT_FAILURE
    try:
        relay.on()
        _record(cfg, a, True, "manual")
        print(_("{id} on ({where}) for {seconds:g} s").format(id=a.id, where=_where(a), seconds=args.for_s), flush=True)
        try:
            time.sleep(args.for_s)
        except KeyboardInterrupt:
            pass
        relay.off()
    finally:
        relay.close()
        _record(cfg, a, False, "manual")
    print(_("{id} off").format(id=a.id))
    return EXIT_OK


def cmd_off(args) -> int:
    cfg, a, rc = _load(args)
    if a is None:
        return rc
    relay = _open(a)
    if relay is None:
        return EXIT_FAILURE
    try:
        relay.off()
    finally:
        relay.close()
    _record(cfg, a, False, "manual")
    print(_("{id} off").format(id=a.id))
    return EXIT_OK


def cmd_status(args) -> int:
    from ..actuators import read_state, relay_state_dir

    cfg, one, rc = _load(args)
    if cfg is None:
        return rc
    actuators = [one] if one is not None else list(cfg.actuators)
    if not actuators:
        print(_("no actuators configured"), file=sys.stderr)
        return EXIT_OK
    for a in actuators:
        state = read_state(relay_state_dir(cfg) / f"{a.id}.json")
        row = {"id": a.id, "driver": a.driver, "pin": a.pin, "active_high": a.active_high, "on_while": a.on_while,
               "hold_s": a.hold_s, "min_off_s": a.min_off_s,
               "on": state.get("on") if state else None,
               "since": _iso(state.get("at"), cfg.device.timezone) if state else None,
               "by": state.get("by") if state else None, "reason": state.get("reason") if state else None}
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
            continue
        now = (_("unknown (nothing recorded yet)") if state is None else
               _("{state} since {since} ({by}: {reason})").format(
                   state=_("ON") if row["on"] else _("off"), since=row["since"], by=row["by"], reason=row["reason"]))
        if a.on_while == "manual":
            rule = _("switched by hand only")
        elif a.hold_s <= 0:
            rule = _("on while {incident} is open").format(incident=a.on_while)
        else:
            rule = _("on for {seconds:g} s when {incident} opens").format(seconds=a.hold_s, incident=a.on_while)
        print(f"{a.id}: {now}\n  {_where(a)}; {rule}; " + _("min off {seconds:g} s").format(seconds=a.min_off_s))
    return EXIT_OK


def _where(a) -> str:
    if a.driver == "sim":
        return _("simulated relay")
    return _("GPIO {pin}, active high").format(pin=a.pin) if a.active_high else _("GPIO {pin}, active low").format(pin=a.pin)


def _iso(at, tz: str) -> str | None:
    if at is None:
        return None
    from zoneinfo import ZoneInfo

    return dt.datetime.fromtimestamp(float(at), ZoneInfo(tz)).isoformat(timespec="seconds")
