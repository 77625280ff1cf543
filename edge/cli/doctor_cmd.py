"""`gedge doctor`: check the camera, sensors, audio, platform, disk and clock on site."""
from __future__ import annotations

import json

from ..config import ConfigError, load_file, locate
from ..i18n import N_, _, display_width, ngettext, pad
from . import EXIT_FAILURE, EXIT_OK, config_arg, print_problems

# the status column as people read it; --json keeps ok / warn / fail
STATUS_WORDS = {"ok": N_("OK"), "warn": N_("WARN"), "fail": N_("FAIL")}
CHECKS = ("clock", "disk", "detector", "camera", "sensors", "audio", "platform", "outbox")


def register(sub, common) -> None:
    p = sub.add_parser("doctor", parents=[common], help=_("check everything the agent needs; exit 1 if something is wrong"),
                       description=_("Checks the camera (a frame arrives), each sensor (a valid reading), the detector, "
                                   "audio, platform reachability and token, disk space, the clock and the outbox. "
                                   "Stop the agent first: it holds the camera and the serial ports."))
    p.add_argument("--json", action="store_true", help=_("one JSON object per check"))
    p.add_argument("--only", action="append", choices=CHECKS, metavar="CHECK",
                   help=_("run only these checks (repeatable): {checks}").format(checks=", ".join(CHECKS)))
    p.set_defaults(func=cmd_doctor)


# check names as people read them; --json and --only keep the English names
CHECK_NAMES = {
    "clock": N_("clock"), "clock vs platform": N_("clock vs platform"), "state dir": N_("state dir"),
    "cache dir": N_("cache dir"), "detector": N_("detector"), "camera": N_("camera"), "sensors": N_("sensors"),
    "audio": N_("audio"), "speech": N_("speech"), "speaker": N_("speaker"), "platform token": N_("platform token"),
    "platform": N_("platform"), "mqtt broker": N_("mqtt broker"), "outbox": N_("outbox"),
}


def check_name(name: str) -> str:
    if name in CHECK_NAMES:
        return _(CHECK_NAMES[name])
    if name.startswith("sensor "):
        return _("sensor {id}").format(id=name[len("sensor "):])
    return name


def status_word(status: str) -> str:
    return _(STATUS_WORDS[status]) if status in STATUS_WORDS else status.upper()


def cmd_doctor(args) -> int:
    from ..runtime.doctor import FAIL, run_checks

    source = locate(config_arg(args))
    try:
        cfg = load_file(source.path)
    except ConfigError as e:
        return print_problems(e)
    results = run_checks(cfg, source.path.parent, set(args.only) if args.only else None)
    if args.json:
        for r in results:
            print(json.dumps(r.as_dict(), ensure_ascii=False))
    else:
        print(_("config: {path} ok").format(path=source.path))
        width = max([display_width(check_name(r.name)) for r in results] + [display_width(_("CHECK"))])
        status_width = max([display_width(status_word(r.status)) for r in results] + [display_width(_("STATUS"))])
        header = (_("CHECK"), _("STATUS"), _("DETAIL"))
        print(f"{pad(header[0], width)}  {pad(header[1], status_width)}  {header[2]}")
        for r in results:
            print(f"{pad(check_name(r.name), width)}  {pad(status_word(r.status), status_width)}  {r.detail}")
    failed = [r for r in results if r.status == FAIL]
    if not args.json:
        print(ngettext("{n} problem", "{n} problems", len(failed)).format(n=len(failed)) if failed
              else _("all checks passed"))
    return EXIT_FAILURE if failed else EXIT_OK
