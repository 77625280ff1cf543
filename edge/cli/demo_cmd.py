"""`gedge demo`: the embedded default — the agent on the simulated room with a local platform."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from ..i18n import _
from . import EXIT_FAILURE


def register(sub, common) -> None:
    p = sub.add_parser("demo", parents=[common], help=_("run the agent on the simulated room with a local receiver"),
                       description=_("Runs the real agent on the simulated room: a bag left outside the bins "
                                   "(reminder, incident, removal, resolution), a bin filling up and emptied, an odor "
                                   "spike switching the fan relay; serial sensors on socat ptys; a local `gedge "
                                   "receiver`. Prints what happens, then a summary; leaves evidence JPEGs, WAVs and "
                                   "the receiver's database in --out."))
    p.add_argument("--out", default="demo-out", metavar="DIR", help=_("where to leave everything (default: demo-out)"))
    p.add_argument("--duration", type=float, metavar="S", help=_("stop after S seconds (default: the whole scenario)"))
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    from ..runtime.demo import run_demo

    if getattr(args, "verbose", 0) == 0:
        logging.getLogger().setLevel(logging.ERROR)  # the demo prints its own story; -v shows the agent's log
    try:
        return run_demo(Path(args.out), write=lambda line: print(line, flush=True), duration_s=args.duration)
    except RuntimeError as e:  # socat missing and the like
        print(f"gedge demo: {e}", file=sys.stderr)
        return EXIT_FAILURE
