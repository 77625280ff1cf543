#!/usr/bin/env python3
"""Benchmark: the bag pipeline (onnx backend + motion gate) against naive ultralytics `predict`
on every frame, with the same weights, on one long simulated clip with a handful of events.

For each it reports CPU-seconds (user + system of the whole process, measured by /usr/bin/time -v,
falling back to getrusage of the child), wall time, peak RSS, and the incidents it finds, next to
the incidents the clip's ground truth expects.

    python bench/bench_vision.py                     # 10-minute 640x480 @ 10 fps clip
    python bench/bench_vision.py --minutes 3         # shorter, on a slow machine
    python bench/bench_vision.py --naive-model models/garbage-yolo.pt   # .pt for the torch baseline
    python bench/bench_vision.py --skip-naive --opencv-threads -1  # ours with OpenCV's default thread pool

Ours runs the static-object finder too (config vision.static); its own CPU share (inside the
finder; the small picture it shares with the motion gate counts to the gate) is printed. The
naive baseline is the detector alone on every frame (finder off).

The clip is rendered once (`gedge sim render`, else in-process) and kept in --work.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# One 10-minute block of room life (times in seconds); longer clips repeat it, shorter cut it.
BLOCK_S = 600.0
BLOCK = [
    {"t": 10, "action": "enter", "actor": "a", "from": "right", "to": [520, 390], "carrying": "black_bag", "bag": "a"},
    {"t": 14, "action": "drop", "actor": "a", "at": [545, 410]},
    {"t": 15, "action": "leave", "actor": "a", "to": "right"},
    {"t": 150, "action": "enter", "actor": "ca", "role": "cleaner", "from": "right", "to": [515, 395]},
    {"t": 154, "action": "pick_up", "actor": "ca", "bag": "a"},
    {"t": 155, "action": "leave", "actor": "ca", "to": "right"},
    {"t": 200, "action": "enter", "actor": "b", "from": "right", "to": [260, 360], "carrying": "white_bag"},
    {"t": 205, "action": "into_bin", "actor": "b", "bin": "bin-2"},
    {"t": 206, "action": "leave", "actor": "b", "to": "right"},
    {"t": 250, "action": "enter", "actor": "c", "from": "left", "to": [400, 430]},
    {"t": 290, "action": "leave", "actor": "c", "to": "left"},
    {"t": 320, "action": "enter", "actor": "d", "from": "left", "to": [110, 420], "carrying": "grey_bag", "bag": "d"},
    {"t": 324, "action": "drop", "actor": "d", "at": [130, 440]},
    {"t": 325, "action": "leave", "actor": "d", "to": "left"},
    {"t": 335, "action": "enter", "actor": "e", "from": "left", "to": [150, 430], "carrying": "red_shopping_bag", "bag": "e"},
    {"t": 339, "action": "drop", "actor": "e", "at": [180, 450]},
    {"t": 340, "action": "leave", "actor": "e", "to": "left"},
    {"t": 470, "action": "remove", "bag": "d"},
    {"t": 471, "action": "remove", "bag": "e"},
    {"t": 520, "action": "enter", "actor": "f", "from": "right", "to": [300, 430], "carrying": "black_bag"},
    {"t": 530, "action": "leave", "actor": "f", "to": "left"},
    {"t": 560, "action": "light", "level": 0.7, "over_s": 20},
]


def scenario(minutes: float) -> dict:
    duration = minutes * 60.0
    timeline = []
    k = 0
    while k * BLOCK_S < duration:
        for ev in BLOCK:
            t = ev["t"] + k * BLOCK_S
            if t >= duration - 1:
                continue
            e = dict(ev, t=t)
            for key in ("actor", "bag"):
                if key in e:
                    e[key] = f"{e[key]}{k}"
            timeline.append(e)
        k += 1
    # drop actions whose actor never entered (cut by the clip end) would not validate
    entered = {e["actor"] for e in timeline if e["action"] == "enter"}
    bags = {e.get("bag") for e in timeline if e["action"] in ("enter", "place") and e.get("bag")}
    timeline = [e for e in timeline if ("actor" not in e or e["actor"] in entered) and
                (e["action"] not in ("pick_up", "remove") or e["bag"] in bags)]
    return {"name": f"bench_{minutes:g}min", "description": "benchmark clip", "duration_s": duration,
            "rules": {"remind_after_s": 3, "incident_after_s": 60, "clear_after_s": 10}, "timeline": timeline}


def render_clip(work: Path, minutes: float, fps: float, size: str, seed: int) -> Path:
    from ruamel.yaml import YAML

    scen = work / f"bench_{minutes:g}min.yaml"
    with scen.open("w") as f:
        YAML().dump(scenario(minutes), f)
    clip = work / f"bench_{minutes:g}min_{size}_{fps:g}fps.mp4"
    if clip.exists() and clip.with_suffix(".truth.json").exists():
        return clip
    print(f"rendering {clip.name} ({minutes:g} min) …", file=sys.stderr, flush=True)
    run = subprocess.run([sys.executable, "-m", "edge", "sim", "render", str(scen), str(clip), "--seed", str(seed),
                          "--fps", f"{fps:g}", "--size", size], capture_output=True, text=True, cwd=ROOT)
    if run.returncode != 0 or not clip.exists():
        why = (run.stderr.strip().splitlines() or ["?"])[-1]
        print(f"  `gedge sim render` unavailable ({why}); rendering in-process", file=sys.stderr)
        sys.path.insert(0, str(ROOT / "models"))
        from evaluate_events import _render_in_process

        _render_in_process(scen, clip, seed, fps)
    return clip


def measure(cmd: list[str], env: dict | None = None) -> dict:
    """Run cmd; CPU-seconds (user+sys), wall seconds, peak RSS (MB) and its stdout."""
    timev = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    full = [timev, "-v", *cmd] if timev else cmd
    run = subprocess.run(full, capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rss_mb = after.ru_maxrss / 1024.0
    if timev:
        m_u = re.search(r"User time \(seconds\): ([\d.]+)", run.stderr)
        m_s = re.search(r"System time \(seconds\): ([\d.]+)", run.stderr)
        m_r = re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr)
        if m_u and m_s:
            cpu = float(m_u.group(1)) + float(m_s.group(1))
        if m_r:
            rss_mb = int(m_r.group(1)) / 1024.0
    if run.returncode != 0:
        tail = "\n".join(run.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"command failed ({run.returncode}): {' '.join(cmd)}\n{tail}")
    return {"cpu_s": cpu, "wall_s": wall, "rss_mb": rss_mb, "stdout": run.stdout, "stderr": run.stderr}


def incidents(stdout: str) -> list[dict]:
    """Pair incident_open / incident_resolved lines (JSON) per place."""
    out: dict[int, dict] = {}
    for line in stdout.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == "incident_open":
            out[ev["place"]] = {"open_s": ev["t"], "resolve_s": None, "count": ev["count"]}
        elif ev.get("event") == "incident_update" and ev["place"] in out:
            out[ev["place"]]["count"] = max(out[ev["place"]]["count"], ev["count"])
        elif ev.get("event") == "incident_resolved" and ev["place"] in out:
            out[ev["place"]]["resolve_s"] = ev["t"]
    return sorted(out.values(), key=lambda d: d["open_s"])


def fmt_inc(items: list[dict]) -> str:
    def one(d):
        r = "open" if d["resolve_s"] is None else f"{d['resolve_s']:.0f}"
        return f"{d['open_s']:.0f}→{r} (x{d.get('count', 1)})"
    return ", ".join(one(d) for d in items) or "none"


def same_incidents(a: list[dict], b: list[dict], tol: float = 3.0) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if abs(x["open_s"] - y["open_s"]) > tol:
            return False
        if (x["resolve_s"] is None) != (y["resolve_s"] is None):
            return False
        if x["resolve_s"] is not None and abs(x["resolve_s"] - y["resolve_s"]) > tol:
            return False
    return True


# ------------------------------------------------------------------ naive baseline (child process)

def naive_worker(args) -> int:
    """ultralytics predict on every frame, same rules (no motion gate); prints events as JSON lines."""
    from edge.config import load_config
    from edge.vision.pipeline import VisionPipeline
    from hw.camera import VideoClip
    from ultralytics import YOLO

    cfg = load_config(args.config)
    cfg.vision.motion.enabled = False
    cfg.vision.static.mode = "off"  # the detector alone, on every frame
    model = YOLO(args.naive_model, task="detect")
    names = None

    class Det:
        __slots__ = ("cls", "conf", "xyxy")

        def __init__(self, cls, conf, xyxy):
            self.cls, self.conf, self.xyxy = cls, conf, xyxy

    class Naive:
        def detect(self, frame):
            nonlocal names
            r = model.predict(frame, imgsz=cfg.vision.imgsz, conf=cfg.vision.conf, iou=cfg.vision.iou, verbose=False)[0]
            names = names or r.names
            b = r.boxes
            return [Det(names[int(c)], float(p), tuple(map(float, xy)))
                    for c, p, xy in zip(b.cls.tolist(), b.conf.tolist(), b.xyxy.tolist())]

    pipe = VisionPipeline(cfg, Naive())
    for frame, t in VideoClip(args.naive_worker).frames():
        for ev in pipe.process(frame, t):
            print(json.dumps(ev.as_dict()), flush=True)
    print(f"frames {pipe.stats.frames} detector runs {pipe.stats.detector_runs}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="clip length (default 10)")
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--seed", type=int, default=8101)
    ap.add_argument("--config", metavar="PATH", help="config for both runs (default: the bundled default)")
    ap.add_argument("--model", metavar="ONNX", help="override vision.model for our pipeline")
    ap.add_argument("--naive-model", metavar="PT_OR_ONNX",
                    help="weights for the ultralytics baseline (default: the .pt beside the ONNX, that of the float "
                         "file for an -int8 twin, else the ONNX)")
    ap.add_argument("--skip-naive", action="store_true", help="measure only our pipeline")
    ap.add_argument("--opencv-threads", type=int, metavar="N",
                    help="override vision.opencv_threads for our pipeline (-1: OpenCV's default pool)")
    ap.add_argument("--work", default=str(ROOT / "data" / "bench"), help="where the clip is kept")
    ap.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    ap.add_argument("--naive-worker", metavar="CLIP", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.naive_worker:
        return naive_worker(args)

    from edge.config import load_config, locate
    from edge.paths import resolve_resource

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cfg_path = Path(args.config) if args.config else locate(None).path
    cfg = load_config(str(cfg_path))
    model = Path(args.model) if args.model else resolve_resource(cfg.vision.model, cfg_path.parent)
    if not model.exists():
        print(f"no model at {model}: train and export it first (models/train.py), or pass --model", file=sys.stderr)
        return 2
    run_cfg = cfg_path
    if args.model or args.opencv_threads is not None:  # a private copy of the config
        text = cfg_path.read_text(encoding="utf-8")
        if args.model:
            text = re.sub(r"(?m)^(\s*model:\s*)\S+", lambda m: m.group(1) + str(model.resolve()), text, count=1)
        if args.opencv_threads is not None:
            text = re.sub(r"(?m)^(\s*opencv_threads:\s*)\S+", lambda m: m.group(1) + str(args.opencv_threads), text, count=1)
        run_cfg = work / "bench_config.yaml"
        run_cfg.write_text(text, encoding="utf-8")
    # the baseline runs the float weights the pipeline's file comes from (an INT8 twin's: its float .pt)
    from edge.vision.detector import onnx_precisions

    trained = onnx_precisions(model)[0].with_suffix(".pt")
    naive_model = Path(args.naive_model) if args.naive_model else (trained if trained.exists() else model)

    clip = render_clip(work, args.minutes, args.fps, args.size, args.seed)
    truth = json.loads(clip.with_suffix(".truth.json").read_text())
    expected = [{"open_s": e["open_s"], "resolve_s": e["resolve_s"], "count": e.get("count", 1)}
                for e in truth.get("expected_incidents", [])]
    frames = int(round(args.minutes * 60 * args.fps))

    print(f"clip: {clip.name}: {frames} frames, {args.size} @ {args.fps:g} fps; model {model.name} "
          f"(imgsz {cfg.vision.imgsz}); naive baseline: ultralytics predict on every frame with {naive_model.name}",
          flush=True)
    ours = measure([sys.executable, "-m", "edge", "replay", str(clip), "--config", str(run_cfg), "--json", "--stats",
                    "--lang", "en"])  # English --stats: parsed below
    ours_inc = incidents(ours["stdout"])
    rows = [("expected (truth)", None, expected)]
    rows.append(("ours: onnx + motion gate", ours, ours_inc))
    naive = None
    if not args.skip_naive:
        naive = measure([sys.executable, str(Path(__file__).resolve()), "--naive-worker", str(clip),
                         "--naive-model", str(naive_model), "--config", str(run_cfg)]
                        + ([] if not args.config else []))
        rows.append(("naive: ultralytics predict every frame", naive, incidents(naive["stdout"])))

    print()
    print(f"{'run':<40} {'CPU s':>8} {'wall s':>8} {'peak RSS MB':>12}  incidents (open→resolve s, count)")
    for name, m, inc in rows:
        if m is None:
            print(f"{name:<40} {'':>8} {'':>8} {'':>12}  {fmt_inc(inc)}")
        else:
            print(f"{name:<40} {m['cpu_s']:8.1f} {m['wall_s']:8.1f} {m['rss_mb']:12.0f}  {fmt_inc(inc)}")
    stats = re.search(r"detector runs (\d+) \(([\d.]+) %\)", ours["stderr"])
    if stats:
        print(f"\nour detector ran on {stats.group(1)} of {frames} frames ({stats.group(2)} %)")
    finder = re.search(r"static-object finder \((\S+)\): (\d+) looks, cpu ([\d.]+) s", ours["stderr"])
    finder_s = float(finder.group(3)) if finder else None
    if finder:
        print(f"our static-object finder ({finder.group(1)}) looked {finder.group(2)} times: {finder_s:.2f} CPU-s, "
              f"{100.0 * finder_s / max(ours['cpu_s'], 1e-6):.1f} % of ours")
    result = {"clip": clip.name, "frames": frames, "model": str(model), "expected": expected,
              "ours": {k: ours[k] for k in ("cpu_s", "wall_s", "rss_mb")}, "ours_incidents": ours_inc,
              "ours_matches_truth": same_incidents(ours_inc, expected), "finder_cpu_s": finder_s}
    print(f"ours finds the expected incidents: {'yes' if result['ours_matches_truth'] else 'NO'}; "
          f"peak RSS {ours['rss_mb']:.0f} MB (goal ≤ 300 MB): {'ok' if ours['rss_mb'] <= 300 else 'OVER'}")
    if naive is not None:
        naive_inc = incidents(naive["stdout"])
        ratio = naive["cpu_s"] / max(ours["cpu_s"], 1e-6)
        result.update({"naive": {k: naive[k] for k in ("cpu_s", "wall_s", "rss_mb")}, "naive_incidents": naive_inc,
                       "cpu_ratio": ratio, "same_incidents": same_incidents(ours_inc, naive_inc)})
        print(f"CPU-seconds: naive / ours = {ratio:.1f}x (goal ≥ 10x); "
              f"same incidents: {'yes' if result['same_incidents'] else 'NO'}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
