#!/usr/bin/env python3
"""How well the static-object finder reports objects left on the floor, on clips built from
real pictures (hw/sim/composite.py).

Each clip has a real photo as the fixed background (camera noise, mount jitter, brightness
drift, an auto-exposure jump, JPEG), and either real bags cut out along their polygon labels,
carried in by a walking person and left (left_one, left_two, left_slow: the person stands by the
bag for 6–10 s first), or nothing left (passer_by, standing_2min, lights, bin_moved). Only the
held-out pictures are used: the real-bags valid/test split and the truck frames of the
2023-12-08 20:00 recording and of 2023-12-10.

The detector is the clip's ground truth for people and bins only (`--detector truth`, the
default): it never names a bag, so every report comes from the finder alone (seen_by static),
which is what this measures. `--detector model` runs the shipped model instead (it may then
also find the bags, and the bags that lie in the background photos).

A left object is reported when an incident opens at its place (within `same_place_px`) no
later than its time down + incident_after_s + 5 s; any other incident is a false one.

    python models/evaluate_composites.py --markdown          # the table in docs/vision.md
    python models/evaluate_composites.py --left 5 --empty 2  # a quicker look
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.config import load_file  # noqa: E402
from edge.vision.bag_rules import INCIDENT_OPEN  # noqa: E402
from edge.vision.pipeline import VisionPipeline, make_detector  # noqa: E402
from edge.vision.truth import TruthDetector  # noqa: E402
from hw.sim.composite import KINDS, LEFT_KINDS, build_clip, held_out_pictures, zones_for  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
INCIDENT_AFTER_S = 30.0
LATE_S = 5.0  # the goal: reported within incident_after_s + 5 s
EARLY_S = 3.0  # an incident this much before its time is not the object's


def config_for(kind: str, config_path: Path | None, incident_after_s: float = INCIDENT_AFTER_S):
    cfg = load_file(config_path or ROOT / "config" / "default.yaml")
    cfg.zones = type(cfg.zones).model_validate(zones_for(kind))
    r = cfg.rules.bag_outside_bin
    r.remind_after_s, r.incident_after_s, r.clear_after_s = 3.0, incident_after_s, 10.0
    return cfg


def run_clip(kind: str, seed: int, pictures, detector_kind: str = "truth", config_path: Path | None = None,
             incident_after_s: float = INCIDENT_AFTER_S) -> dict:
    clip = build_clip(kind, seed, pictures, incident_after_s=incident_after_s)
    cfg = config_for(kind, config_path, incident_after_s)
    det = TruthDetector(classes=("person", "bin")) if detector_kind == "truth" else make_detector(cfg, ROOT / "config")
    pipe = VisionPipeline(cfg, det)
    events = []
    cpu0 = time.process_time()
    n = 0
    for frame, t, truth in clip.frames():
        n += 1
        if detector_kind == "truth":
            det.feed(truth)
        events += pipe.process(frame, t)
    opens = [e for e in events if e.kind == INCIDENT_OPEN]
    rule = cfg.rules.bag_outside_bin
    used: set[int] = set()
    delays = []
    reported = 0
    if clip.bags:  # objects put down together in one place are one incident
        t_down = min(b["t_down"] for b in clip.bags)
        xy = (statistics.fmean(b["xy"][0] for b in clip.bags), statistics.fmean(b["xy"][1] for b in clip.bags))
        due = t_down + rule.incident_after_s
        hits = [e for e in opens if e.xy is not None and math.dist(e.xy, xy) <= rule.same_place_px
                and due - EARLY_S <= e.t <= due + LATE_S]
        if hits:
            used.add(id(hits[0]))
            reported = len(clip.bags)
            delays.append(hits[0].t - due)
    false = [e for e in opens if id(e) not in used]
    return {"clip": clip.name, "kind": kind, "seed": seed, "background": clip.background, "objects": len(clip.bags),
            "reported": reported, "delay_s": delays, "false": len(false),
            "seen_by": sorted({e.seen_by for e in opens}), "frames": n, "cpu_s": time.process_time() - cpu0,
            "finder_s": pipe.stats.static_s}


def table(rows: list[dict], markdown: bool) -> str:
    lines = []
    head = ["clips", "kind", "objects left", "reported in time", "delay s (median, max)", "false incidents", "seen_by"]
    if markdown:
        lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for kind in KINDS:
        rs = [r for r in rows if r["kind"] == kind]
        if not rs:
            continue
        objs = sum(r["objects"] for r in rs)
        rep = sum(r["reported"] for r in rs)
        delays = [d for r in rs for d in r["delay_s"]]
        dl = f"{statistics.median(delays):+.1f}, {max(delays):+.1f}" if delays else "-"
        eyes = ", ".join(sorted({e for r in rs for e in r["seen_by"]})) or "-"
        cells = [str(len(rs)), kind, str(objs) if kind in LEFT_KINDS else "-",
                 f"{rep}/{objs}" if kind in LEFT_KINDS else "-", dl, str(sum(r["false"] for r in rs)), eyes]
        lines.append("| " + " | ".join(cells) + " |" if markdown else "  ".join(f"{c:<14}" for c in cells))
    objs = sum(r["objects"] for r in rows)
    rep = sum(r["reported"] for r in rows)
    empty_false = sum(r["false"] for r in rows if r["kind"] not in LEFT_KINDS)
    lines.append("")
    lines.append(f"{rep}/{objs} left objects reported within incident_after_s + {LATE_S:g} s "
                 f"({100.0 * rep / max(objs, 1):.1f} %); {empty_false} false incidents in "
                 f"{sum(1 for r in rows if r['kind'] not in LEFT_KINDS)} clips with nothing left, "
                 f"{sum(r['false'] for r in rows if r['kind'] in LEFT_KINDS)} extra in the others")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA, help="folder with real-bags/ and truck-bags/")
    ap.add_argument("--left", type=int, default=15, help="clips per kind with objects left (seeds 1…N)")
    ap.add_argument("--empty", type=int, default=6, help="clips per kind with nothing left")
    ap.add_argument("--kinds", nargs="*", choices=KINDS, default=list(KINDS), help="only these kinds of clip")
    ap.add_argument("--detector", choices=["truth", "model"], default="truth")
    ap.add_argument("--config", type=Path, default=None)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", type=Path, metavar="OUT")
    args = ap.parse_args(argv)
    if not (args.data / "real-bags").is_dir():
        print(f"evaluate_composites: {args.data}/real-bags: no such folder (use --data)", file=sys.stderr)
        return 2
    pictures = held_out_pictures(args.data)
    rows = []
    started = time.perf_counter()
    for kind in args.kinds:
        for seed in range(1, (args.left if kind in LEFT_KINDS else args.empty) + 1):
            r = run_clip(kind, seed, pictures, args.detector, args.config)
            rows.append(r)
            print(f"{r['clip']}: objects {r['objects']} reported {r['reported']} delay {r['delay_s']} "
                  f"false {r['false']} ({r['frames']} frames, {r['cpu_s']:.1f} CPU-s, finder {r['finder_s']:.2f} s)",
                  file=sys.stderr, flush=True)
    print(table(rows, args.markdown))
    print(f"\n(detector: {args.detector}; {time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    objs = sum(r["objects"] for r in rows)
    ok = sum(r["reported"] for r in rows) >= 0.95 * objs and not any(r["false"] for r in rows if r["kind"] not in LEFT_KINDS)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
