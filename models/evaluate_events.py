#!/usr/bin/env python3
"""Event accuracy of the bag pipeline on held-out simulated clips.

For each scenario in models/eval_scenarios/ (short rules: incident_after_s 20, clear_after_s 10),
it renders a clip with `gedge sim render` (seeds 7001… are never used for training data), runs
the same pipeline as `gedge replay` over it with the clip's timestamps, and compares the events
with the clip's ground truth (`expected_incidents`):

- every expected incident is opened exactly once, within 3 s of its expected open time
  (bag down + incident_after_s), at the right place;
- it is resolved within 3 s of its expected resolve time (bag gone + clear_after_s), or stays
  open when the truth says it does;
- nothing else opens (bags into bins, people standing still, bags carried through).

    python models/evaluate_events.py                  # the shipped model (config vision.*)
    python models/evaluate_events.py --detector truth # ground-truth boxes: checks rules alone
    python models/evaluate_events.py --markdown       # the table for docs/vision.md
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.config import load_config  # noqa: E402
from edge.vision.bag_rules import INCIDENT_OPEN, INCIDENT_RESOLVED, INCIDENT_UPDATE  # noqa: E402
from edge.vision.pipeline import VisionPipeline, make_detector  # noqa: E402
from edge.vision.truth import TruthDetector, TruthTimeline  # noqa: E402
from hw.camera import VideoClip  # noqa: E402
from hw.sim import load_scenario  # noqa: E402

MAX_CLIP_S = 3600

SCENARIO_DIR = ROOT / "models" / "eval_scenarios"
TOLERANCE_S = 3.0


@dataclass
class Result:
    scenario: str
    seed: int
    expected: list
    events: list
    frames: int = 0
    detector_runs: int = 0
    cpu_s: float = 0.0
    rows: list = field(default_factory=list)  # per expected incident: (open_dt, resolve_dt, count_got, ok)
    false_opens: int = 0
    ok: bool = True


def render(scenario: Path, out: Path, seed: int, fps: float) -> Path:
    """OUT.mp4 + OUT.truth.json via `gedge sim render` (falls back to rendering in-process when the
    command is not available in this installation)."""
    gedge = [sys.executable, "-m", "edge"]
    run = subprocess.run([*gedge, "sim", "render", str(scenario), str(out), "--seed", str(seed), "--fps", f"{fps:g}"],
                         capture_output=True, text=True, cwd=ROOT)
    if run.returncode == 0 and out.exists():
        return out
    why = (run.stderr.strip().splitlines() or ["no output"])[-1]
    print(f"  `gedge sim render` unavailable ({why}); rendering in-process", file=sys.stderr)
    _render_in_process(scenario, out, seed, fps)
    return out


def _render_in_process(scenario: Path, out: Path, seed: int, fps: float) -> None:
    import cv2

    from hw.sim import SimRoom

    sc = load_scenario(scenario)
    room = SimRoom(sc, size=(640, 480), seed=seed)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 480))
    frames = []
    for i in range(int(round(sc.duration_s * fps))):
        t = i / fps
        img, truth = room.render(t)
        writer.write(img)
        frames.append({"t": round(t, 4), "boxes": [{"cls": b.cls, "xyxy": list(b.xyxy), "track_id": b.track_id}
                                                   for b in truth]})
    writer.release()
    truth_path = out.with_suffix(".truth.json")
    truth_path.write_text(json.dumps({"scenario": sc.name, "seed": seed, "fps": fps,
                                      "expected_incidents": sc.expected_incidents(), "frames": frames}))


def truth_path(clip: Path) -> Path:
    return clip.with_suffix(".truth.json")


def evaluate(scenario: Path, clip: Path, seed: int, cfg_path: str | None, detector_kind: str) -> Result:
    sc = load_scenario(scenario)
    truth = json.loads(truth_path(clip).read_text())
    expected = [e for e in truth.get("expected_incidents", []) if e.get("type", "bag_outside_bin") == "bag_outside_bin"]
    cfg = load_config(cfg_path)
    rule = cfg.rules.bag_outside_bin
    rule.remind_after_s = sc.rules["remind_after_s"]
    rule.incident_after_s = sc.rules["incident_after_s"]
    rule.clear_after_s = sc.rules["clear_after_s"]
    if "same_place_px" in sc.rules:
        rule.same_place_px = sc.rules["same_place_px"]
    timeline = None
    if detector_kind == "truth":
        detector = TruthDetector()
        timeline = TruthTimeline.load(truth_path(clip))
    else:
        detector = make_detector(cfg, ROOT / "config")
    pipe = VisionPipeline(cfg, detector)
    events = []
    cpu0 = time.process_time()
    n = 0
    for frame, t in VideoClip(clip).frames():
        n += 1
        if timeline is not None:
            detector.feed(timeline.at(t))
        events.extend(pipe.process(frame, t))
    res = Result(sc.name, seed, expected, events, n, pipe.stats.detector_runs, time.process_time() - cpu0)
    compare(res, sc.duration_s, rule.same_place_px)
    return res


def compare(res: Result, duration_s: float, same_place_px: float) -> None:
    opens = [e for e in res.events if e.kind == INCIDENT_OPEN]
    resolves = {e.place_id: e for e in res.events if e.kind == INCIDENT_RESOLVED}
    used: set[int] = set()
    for exp in res.expected:
        place = tuple(exp.get("place") or (math.nan, math.nan))
        cands = [e for e in opens if id(e) not in used and e.xy is not None and math.dist(e.xy, place) <= same_place_px
                 and abs(e.t - exp["open_s"]) <= 3 * TOLERANCE_S + 10]
        cands.sort(key=lambda e: abs(e.t - exp["open_s"]))
        if not cands:
            res.rows.append((None, None, 0, False))
            res.ok = False
            continue
        got = cands[0]
        used.add(id(got))
        open_dt = got.t - exp["open_s"]
        ok = abs(open_dt) <= TOLERANCE_S
        resolved = resolves.get(got.place_id)
        if exp.get("resolve_s") is None:
            resolve_dt = None if resolved is None else math.inf
            ok = ok and resolved is None
        else:
            resolve_dt = None if resolved is None else resolved.t - exp["resolve_s"]
            ok = ok and resolve_dt is not None and abs(resolve_dt) <= TOLERANCE_S
        counts = [e.count for e in res.events if e.place_id == got.place_id and e.kind in (INCIDENT_OPEN, INCIDENT_UPDATE)]
        res.rows.append((open_dt, resolve_dt, max(counts), ok))  # the most bags reported, as the truth counts
        res.ok = res.ok and ok
    res.false_opens = sum(1 for e in opens if id(e) not in used)
    if res.false_opens:
        res.ok = False


def fmt_dt(v) -> str:
    if v is None:
        return "-"
    if v == math.inf:
        return "resolved (should stay open)"
    return f"{v:+.1f}"


def table(results: list[Result], markdown: bool) -> str:
    head = ["scenario", "seed", "expected", "opened", "open Δt s", "resolve Δt s", "count exp/got", "false opens", "result"]
    rows = []
    for r in results:
        n_open = sum(1 for e in r.events if e.kind == INCIDENT_OPEN)
        if not r.expected:
            rows.append([r.scenario, str(r.seed), "none", str(n_open), "-", "-", "-", str(r.false_opens),
                         "pass" if r.ok else "FAIL"])
            continue
        for i, (exp, row) in enumerate(zip(r.expected, r.rows)):
            open_dt, resolve_dt, count, ok = row
            exp_txt = f"open {exp['open_s']:g} s, " + ("stays open" if exp.get("resolve_s") is None
                                                      else f"resolve {exp['resolve_s']:g} s")
            rows.append([r.scenario if i == 0 else "", str(r.seed) if i == 0 else "", exp_txt,
                         str(n_open) if i == 0 else "", fmt_dt(open_dt), fmt_dt(resolve_dt),
                         f"{exp.get('count', 1)}/{count}", str(r.false_opens) if i == 0 else "",
                         ("pass" if r.ok else "FAIL") if i == 0 else ""])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detector", choices=["model", "truth"], default="model",
                    help="model: the configured detector (default); truth: the clip's ground-truth boxes")
    ap.add_argument("--config", metavar="PATH", help="config file (default: the bundled default)")
    ap.add_argument("--scenarios", nargs="*", metavar="YAML", help=f"scenario files (default: all in {SCENARIO_DIR})")
    ap.add_argument("--seed", type=int, default=7101,
                    help="first seed; each scenario gets the next (default 7101; 7001-7010 were used while tuning)")
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--work", metavar="DIR", default=str(ROOT / "data" / "eval_clips"),
                    help="where clips are rendered (kept, reused when present)")
    ap.add_argument("--rerender", action="store_true", help="render the clips again even when present")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    args = ap.parse_args(argv)

    scenarios = [Path(p) for p in args.scenarios] if args.scenarios else sorted(SCENARIO_DIR.glob("*.yaml"))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = []
    t0 = time.perf_counter()
    for i, scen in enumerate(scenarios):
        seed = args.seed + i
        sc = load_scenario(scen)
        if sc.duration_s > MAX_CLIP_S:  # the whole-day sensor scenario: hours of video to render
            print(f"skipping {scen.name}: {sc.duration_s:.0f} s is no clip (at most {MAX_CLIP_S} s)", file=sys.stderr, flush=True)
            continue
        clip = work / f"{scen.stem}-s{seed}.mp4"
        if args.rerender or not clip.exists() or not truth_path(clip).exists():
            print(f"rendering {clip.name} …", file=sys.stderr, flush=True)
            render(scen, clip, seed, args.fps)
        res = evaluate(scen, clip, seed, args.config, args.detector)
        print(f"{res.scenario}: {'pass' if res.ok else 'FAIL'} ({res.frames} frames, detector on "
              f"{res.detector_runs}, {res.cpu_s:.1f} CPU-s)", file=sys.stderr, flush=True)
        results.append(res)
    passed = sum(r.ok for r in results)
    print(table(results, args.markdown))
    print(f"\n{passed}/{len(results)} clips pass (detector: {args.detector}; tolerance ±{TOLERANCE_S:g} s; "
          f"{time.perf_counter() - t0:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps([
            {"scenario": r.scenario, "seed": r.seed, "ok": r.ok, "expected": r.expected, "false_opens": r.false_opens,
             "events": [e.as_dict() for e in r.events], "frames": r.frames, "detector_runs": r.detector_runs}
            for r in results], indent=1))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
