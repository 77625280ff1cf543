"""`gedge doctor`: check the camera, sensors, audio, platform, disk and clock on site."""
from __future__ import annotations

import json

from ..config import ConfigError, load_file, locate
from . import EXIT_FAILURE, EXIT_OK, config_arg, print_problems

CHECKS = ("clock", "disk", "detector", "camera", "sensors", "audio", "platform", "outbox")


def register(sub, common) -> None:
    p = sub.add_parser("doctor", parents=[common], help="check everything the agent needs; exit 1 if something is wrong",
                       description="Checks the camera (a frame arrives), each sensor (a valid reading), the detector, "
                                   "audio, platform reachability and token, disk space, the clock and the outbox. "
                                   "Stop the agent first: it holds the camera and the serial ports.")
    p.add_argument("--json", action="store_true", help="one JSON object per check")
    p.add_argument("--only", action="append", choices=CHECKS, metavar="CHECK",
                   help=f"run only these checks (repeatable): {', '.join(CHECKS)}")
    p.set_defaults(func=cmd_doctor)


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
        print(f"config: {source.path} ok")
        width = max(len(r.name) for r in results) if results else 5
        print(f"{'CHECK'.ljust(width)}  STATUS  DETAIL")
        for r in results:
            print(f"{r.name.ljust(width)}  {r.status.upper().ljust(6)}  {r.detail}")
    failed = [r for r in results if r.status == FAIL]
    if not args.json:
        print(f"{len(failed)} problem(s)" if failed else "all checks passed")
    return EXIT_FAILURE if failed else EXIT_OK
