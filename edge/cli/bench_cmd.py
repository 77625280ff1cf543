"""`gedge bench`: detector latency per backend and input size on this device, fastest recommended."""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from ..i18n import _
from . import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, config_arg, print_problems


def register(sub, common) -> None:
    p = sub.add_parser("bench", parents=[common], help=_("measure detector latency per backend and input size"),
                       description=_("Time the detector on a simulated room frame for every available backend "
                                   "and input size, and recommend the fastest. The ultralytics backend uses "
                                   "the .pt weights beside the ONNX model when present (same weights)."))
    p.add_argument("--model", metavar="PATH", help=_("ONNX model (default: vision.model)"))
    p.add_argument("--pt", metavar="PATH", help=_("weights for the ultralytics backend (default: the model's .pt twin, else the model)"))
    p.add_argument("--imgsz", default="256,320,416", help=_("comma-separated input sizes (default 256,320,416)"))
    p.add_argument("--backends", default=None, help=_("comma-separated backends (default: every available one)"))
    p.add_argument("--runs", type=int, default=20, help=_("timed runs per setting (default 20)"))
    p.add_argument("--rounds", type=int, default=5,
                   help=_("the runs are split into this many rounds, taking turns between the settings of one input size (default 5)"))
    p.add_argument("--threads", type=int, default=None, help=_("inference threads (default: vision.threads)"))
    p.add_argument("--json", action="store_true", help=_("one JSON object per setting, then the recommendation"))
    p.set_defaults(func=_bench)


def time_detector(det, frame, runs: int, warmup: int = 3) -> dict:
    """Median / p90 latency in ms of det.detect(frame) (after warm-up runs)."""
    return time_side_by_side([det], frame, runs, rounds=1, warmup=warmup)[0]


def time_side_by_side(dets: list, frame, runs: int, rounds: int = 5, warmup: int = 2, clock=time.perf_counter) -> list[dict]:
    """Latency of several detectors taking turns: `rounds` rounds, in each of which every detector
    runs its share of `runs` in a row. A busy spell of the machine then falls on all of them,
    where timing one after the other would charge it to whichever ran then. Per detector: median
    and p90 over all runs, and each round's median (for ratios between detectors, round by round)."""
    rounds = max(1, min(rounds, runs))
    per_round = -(-max(1, runs) // rounds)
    for det in dets:
        for _i in range(warmup):
            det.detect(frame)
    samples: list[list[float]] = [[] for _ in dets]
    round_ms: list[list[float]] = [[] for _ in dets]
    for _r in range(rounds):
        for i, det in enumerate(dets):
            times = []
            for _k in range(per_round):
                t0 = clock()
                det.detect(frame)
                times.append((clock() - t0) * 1000)
            samples[i].extend(times)
            round_ms[i].append(round(statistics.median(times), 2))
    out = []
    for times, medians in zip(samples, round_ms):
        times.sort()
        med = statistics.median(times)
        out.append({"ms_median": round(med, 2), "ms_p90": round(times[min(len(times) - 1, int(0.9 * len(times)))], 2),
                    "fps": round(1000 / med, 1) if med > 0 else None, "round_ms": medians})
    return out


def round_ratios(base: dict, other: dict) -> list[float]:
    """Round by round, how many times faster `other` ran than `base` (both from time_side_by_side)."""
    return [b / o for b, o in zip(base["round_ms"], other["round_ms"]) if o > 0]


def speedup(base: dict, other: dict) -> float | None:
    """How many times faster `other` ran than `base`: the median of their per-round ratios."""
    ratios = round_ratios(base, other)
    return round(statistics.median(ratios), 2) if ratios else None


def bench_frame():
    """A representative frame: the default room with a person and a bag."""
    from hw.sim import SimRoom

    frame, _truth = SimRoom("bag_removed_by_cleaner", seed=0).render(100.0)
    return frame


def _bench(args) -> int:
    from ..config import ConfigError, load_config, locate
    from ..paths import resolve_resource
    from ..vision.detector import ModelError, available_backends, load_detector, onnx_precisions

    try:
        cfg = load_config(config_arg(args))
    except ConfigError as e:
        return print_problems(e)
    v = cfg.vision
    try:
        sizes = [int(s) for s in args.imgsz.split(",") if s.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(s % 32 or not 64 <= s <= 1280 for s in sizes):
        print(_("gedge bench: --imgsz must list multiples of 32 between 64 and 1280"), file=sys.stderr)
        return EXIT_USAGE
    model = Path(args.model) if args.model else resolve_resource(v.model, locate(config_arg(args)).path.parent)
    float_model, int8_model = onnx_precisions(model)
    pt_twin = float_model.with_suffix(".pt")
    pt = Path(args.pt) if args.pt else (pt_twin if pt_twin.is_file() else model)
    backends = args.backends.split(",") if args.backends else available_backends()
    threads = args.threads or v.threads
    frame = bench_frame()
    rows = []
    failed: list = []  # settings whose model would not load: reported once, not per size
    # the onnx backend runs the float file and its INT8 twin, side by side in one run
    settings = [(b, p) for b in backends for p in ([q for q in (float_model, int8_model) if q.is_file()] or [model]
                                                   if b == "onnx" else [pt])]
    for size in sizes:
        loaded = []  # the settings of one size take turns; one size at a time keeps memory small
        for backend, path in settings:
            if (backend, path) in failed:
                continue
            try:
                det = load_detector(backend, path, size, v.conf, v.iou, threads)
            except ModelError as e:
                print(_("gedge bench: {backend}: {reason}").format(backend=backend, reason=e), file=sys.stderr)
                failed.append((backend, path))
                continue
            if det.imgsz == size:  # a fixed-size model cannot run other sizes
                loaded.append((backend, path, det))
        timed = time_side_by_side([d for _b, _p, d in loaded], frame, args.runs, args.rounds)
        by_path = {}
        for (backend, path, _det), t in zip(loaded, timed):
            row = {"backend": backend, "model": str(path), "imgsz": size, "threads": threads, **t}
            by_path[(backend, path)] = row
            if backend == "onnx" and path == int8_model and ("onnx", float_model) in by_path:
                row["speedup_vs_float"] = speedup(by_path[("onnx", float_model)], row)
            rows.append(row)
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print(f"{backend:12s} imgsz {size:4d}  median {row['ms_median']:7.1f} ms  p90 {row['ms_p90']:7.1f} ms  "
                      f"{row['fps']:6.1f} fps   ({path.name})", flush=True)
                if row.get("speedup_vs_float"):
                    print("  " + _("INT8 against float at imgsz {imgsz}: {ratio:.2f}x as fast (median of {rounds} rounds taking turns)").format(
                        imgsz=size, ratio=row["speedup_vs_float"], rounds=len(row["round_ms"])), flush=True)
    verifier_row = _bench_verifier(v, locate(config_arg(args)).path.parent, frame, args, threads) if rows else None
    if not rows:
        print(_("gedge bench: no backend could be measured"), file=sys.stderr)
        # a missing or wrong model file is the caller's to fix, as in detect and replay
        return EXIT_USAGE if failed else EXIT_FAILURE
    best = min(rows, key=lambda r: r["ms_median"])
    at_cfg = [r for r in rows if r["imgsz"] == v.imgsz]
    best_cfg = min(at_cfg, key=lambda r: r["ms_median"]) if at_cfg else None
    pick = ("backend", "model", "imgsz", "ms_median")
    rec = {"recommended": {k: best[k] for k in pick},
           "recommended_at_config_imgsz": {k: best_cfg[k] for k in pick} if best_cfg else None}
    if verifier_row:  # weighed against the detector the box would run: at the config's imgsz where measured
        base = best_cfg or best
        rec["verifier_share_of_frame_with_one_bag"] = round(verifier_row["ms_median"] / base["ms_median"], 3)
    if args.json:
        print(json.dumps(rec))
    else:
        print(_("fastest: backend {backend} at imgsz {imgsz} with {model} ({ms:.1f} ms)").format(
            backend=best["backend"], imgsz=best["imgsz"], model=Path(best["model"]).name, ms=best["ms_median"]))
        if best_cfg:
            print(_("at the configured imgsz {imgsz}: backend {backend} with {model} ({ms:.1f} ms)").format(
                imgsz=v.imgsz, backend=best_cfg["backend"], model=Path(best_cfg["model"]).name, ms=best_cfg["ms_median"])
                  + f" -> `gedge config set vision.backend {best_cfg['backend']}`"
                  + (f" `gedge config set vision.model {best_cfg['model']}`" if best_cfg["model"] != str(model) else ""))
        if "verifier_share_of_frame_with_one_bag" in rec:
            print(_("the verifier adds {pct:.0f} % to the time of {model} at imgsz {imgsz} on a frame with one bag").format(
                pct=100 * rec["verifier_share_of_frame_with_one_bag"], model=Path(base["model"]).name, imgsz=base["imgsz"]))
    return EXIT_OK


class _OneBag:
    """The verifier as time_side_by_side expects a detector: one bag-sized box per frame."""

    def __init__(self, verifier, box):
        self.verifier, self.box = verifier, box

    def detect(self, frame):
        return self.verifier.probs(frame, [self.box])


def _bench_verifier(vision, base_dir, frame, args, threads) -> dict | None:
    """The crop verifier's cost per detected bag (vision.verifier), or None when it is off or unusable."""
    if not vision.verifier.model:
        return None
    from ..paths import resolve_resource
    from ..vision.detector import ModelError
    from ..vision.verifier import CropVerifier

    try:
        verifier = CropVerifier(resolve_resource(vision.verifier.model, base_dir), threads)
    except ModelError as e:
        print(_("gedge bench: verifier: {reason}").format(reason=e), file=sys.stderr)
        return None
    h, w = frame.shape[:2]
    box = (w * 0.4, h * 0.6, w * 0.6, h * 0.9)  # a bag's size on the floor of a 640 x 480 room
    row = {"verifier": str(verifier.model_path), "crop_px": verifier.size, "threads": threads,
           **time_side_by_side([_OneBag(verifier, box)], frame, args.runs, args.rounds)[0]}
    if args.json:
        print(json.dumps(row), flush=True)
    else:
        print(_("verifier {size} px: median {ms:.1f} ms per detected bag ({model})").format(
            size=verifier.size, ms=row["ms_median"], model=verifier.model_path.name), flush=True)
    return row
