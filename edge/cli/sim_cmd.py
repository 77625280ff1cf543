"""`gedge sim`: the simulated garbage room (render scenario clips with ground truth, list scenarios)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..i18n import _
from . import EXIT_FAILURE, EXIT_OK, EXIT_USAGE


def register(sub, common) -> None:
    p = sub.add_parser("sim", parents=[common], help=_("the simulated garbage room: render clips, list scenarios"))
    ssub = p.add_subparsers(dest="sim_command", metavar="SUBCOMMAND")
    r = ssub.add_parser("render", parents=[common], help=_("render a scenario to OUT.mp4 plus OUT.truth.json"),
                        description=_("Render a scenario to an mp4 clip and a ground-truth file beside it "
                                    "(per-frame boxes and the incidents the agent should raise)."))
    r.add_argument("scenario", metavar="SCENARIO", help=_("a scenario YAML file or a bundled scenario name (see `gedge sim scenarios`)"))
    r.add_argument("out", metavar="OUT.mp4", type=Path)
    r.add_argument("--seed", type=int, default=0, help=_("picks bag shapes, clothes and noise (default 0)"))
    r.add_argument("--fps", type=float, default=10.0, help=_("frames per second (default 10)"))
    r.add_argument("--size", default="640x480", help=_("frame size WxH (default 640x480)"))
    r.add_argument("--duration", type=float, default=None, metavar="S", help=_("render only the first S seconds"))
    r.add_argument("--json", action="store_true", help=_("print a JSON summary instead of text"))
    r.set_defaults(func=_render)
    s = ssub.add_parser("scenarios", parents=[common], help=_("list the bundled scenarios"))
    s.add_argument("--json", action="store_true", help=_("one JSON object per scenario"))
    s.set_defaults(func=_scenarios)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), EXIT_USAGE)[1])


def _size(text: str) -> tuple[int, int] | None:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        return None
    if not (32 <= w <= 4096 and 32 <= h <= 4096):
        return None
    return w, h


def _in_frame(incident: dict, size: tuple[int, int]) -> dict:
    """The incident with its `place` in the clip's pixels, like every other point in the truth file
    (scenarios place things in the 640x480 layout)."""
    from hw.sim.scenario import BASE_H, BASE_W

    x, y = incident["place"]
    return {**incident, "place": [round(x * size[0] / BASE_W, 1), round(y * size[1] / BASE_H, 1)]}


def _render(args) -> int:
    import cv2

    from hw.sim import SimRoom, load_scenario
    from hw.sim.scenario import ScenarioError

    size = _size(args.size)
    if size is None:
        print(_("gedge sim render: --size must be WxH (32..4096), got {value!r}").format(value=args.size), file=sys.stderr)
        return EXIT_USAGE
    if not (0 < args.fps <= 60):
        print(_("gedge sim render: --fps must be in (0, 60]"), file=sys.stderr)
        return EXIT_USAGE
    if args.duration is not None and not args.duration > 0:
        print(_("gedge sim render: --duration must be a positive number of seconds"), file=sys.stderr)
        return EXIT_USAGE
    try:
        sc = load_scenario(args.scenario)
    except ScenarioError as e:
        print(_("gedge sim render: {reason}").format(reason=e), file=sys.stderr)
        return EXIT_USAGE
    room = SimRoom(sc, size=size, seed=args.seed)
    out: Path = args.out
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(_("gedge sim render: cannot create the folder for {path}: {reason}").format(path=out, reason=e.strerror),
              file=sys.stderr)
        return EXIT_FAILURE
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), args.fps, size)
    if not writer.isOpened():
        print(_("gedge sim render: cannot write video {path}").format(path=out), file=sys.stderr)
        return EXIT_FAILURE
    end = sc.duration_s if args.duration is None else min(sc.duration_s, args.duration)
    n = int(round(end * args.fps))
    frames = []
    # a long clip renders for minutes: say how far it is, on stderr (stdout stays the summary);
    # on a terminal one line rewritten in place, elsewhere a line per tenth
    tty = sys.stderr.isatty()
    step = max(1, n // (100 if tty else 10))
    try:
        for i in range(n):
            t = i / args.fps
            frame, truth = room.render(t)
            writer.write(frame)
            if (i + 1) % step == 0 or i + 1 == n:
                print(_("rendering {path}: {done}/{n} frames ({pct:.0f} %)").format(
                    path=out.name, done=i + 1, n=n, pct=100 * (i + 1) / n),
                    file=sys.stderr, end="\r" if tty and i + 1 < n else "\n", flush=True)
            frames.append({"i": i, "t": round(t, 4), "boxes": [
                {"class": b.cls, "xyxy": [round(v, 1) for v in b.xyxy], "track_id": b.track_id} for b in truth]})
    finally:
        writer.release()
    truth_path = out.with_name(out.stem + ".truth.json") if out.suffix else Path(str(out) + ".truth.json")
    doc = {
        "schema": "garbage-edge/sim-truth@1",
        "scenario": sc.name,
        "description": sc.description,
        "seed": args.seed,
        "fps": args.fps,
        "size": list(size),
        "duration_s": end,
        "rules": sc.rules,
        "floor": [list(p) for p in room.floor_polygon()],
        "bins": {k: [list(p) for p in v] for k, v in room.bin_polygons().items()},
        "expected_incidents": [_in_frame(i, size) for i in sc.expected_incidents() if i["open_s"] <= end],
        "frames": frames,
    }
    from ..files import atomic_write

    try:
        atomic_write(truth_path, json.dumps(doc, ensure_ascii=False) + "\n")
    except OSError as e:
        print(_("gedge sim render: cannot write {path}: {reason}").format(path=truth_path, reason=e.strerror), file=sys.stderr)
        return EXIT_FAILURE
    summary = {"video": str(out), "truth": str(truth_path), "frames": n, "expected_incidents": doc["expected_incidents"]}
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        print(_("wrote {path} ({n} frames at {fps:g} fps, {width}x{height}) and {truth}").format(
            path=out, n=n, fps=args.fps, width=size[0], height=size[1], truth=truth_path))
        for inc in doc["expected_incidents"]:
            res = (_("stays open") if inc["resolve_s"] is None
                   else _("resolves at {seconds:g} s").format(seconds=inc["resolve_s"]))
            print("  " + _("expected {type}: opens at {seconds:g} s, {resolution} (count {count})").format(
                type=inc["type"], seconds=inc["open_s"], resolution=res, count=inc["count"]))
    return EXIT_OK


def _scenarios(args) -> int:
    from hw.sim import list_scenarios, load_scenario

    for name in list_scenarios():
        sc = load_scenario(name)
        incs = sc.expected_incidents()
        if args.json:
            print(json.dumps({"name": name, "duration_s": sc.duration_s, "description": sc.description,
                              "expected_incidents": incs, "sensors": sorted(sc.sensors)}, ensure_ascii=False))
        else:
            print(f"{name:28s} {sc.duration_s:6.0f} s  " + _("{n} incident(s)").format(n=len(incs)) + f"  {sc.description}")
    return EXIT_OK
