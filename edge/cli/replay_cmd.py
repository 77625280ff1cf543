"""`gedge replay VIDEO`: the vision pipeline over a recorded clip, as fast as the CPU allows.

Frames are timed with the clip's own timestamps (no real-time waiting); one event per line:
reminder_due, incident_open, incident_update, incident_resolved, with t in seconds from the clip
start, the zone and place, and the bag count.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..config import ConfigError, load_config, locate
from . import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, config_arg, print_problems


def register(sub, common) -> None:
    p = sub.add_parser("replay", parents=[common], help="run the bag pipeline over a recorded clip and print its events")
    p.add_argument("video", metavar="VIDEO", help="a video file (mp4, mkv, avi, …)")
    p.add_argument("--json", action="store_true", help="one JSON object per event line")
    p.add_argument("--snapshots", metavar="DIR", help="write each event's evidence JPEG into DIR")
    p.add_argument("--truth", metavar="TRUTH_JSON",
                   help="use the ground-truth boxes of a rendered clip (OUT.truth.json) instead of the model: "
                        "checks the rules and zones apart from the detector")
    p.add_argument("--stats", action="store_true", help="print frames, detector runs and timing to stderr at the end")
    p.set_defaults(func=cmd_replay)


def cmd_replay(args) -> int:
    from hw.camera import VideoClip, VideoError

    try:
        cfg = load_config(config_arg(args))
    except ConfigError as e:
        return print_problems(e)
    if not Path(args.video).exists():
        print(f"gedge replay: {args.video}: no such file", file=sys.stderr)
        return EXIT_USAGE
    try:
        clip = VideoClip(args.video)
    except VideoError as e:
        print(f"gedge replay: {e}", file=sys.stderr)
        return EXIT_FAILURE

    truth = None
    if args.truth:
        from ..vision.truth import TruthDetector, TruthTimeline

        try:
            truth = TruthTimeline.load(args.truth)
        except (OSError, ValueError) as e:
            print(f"gedge replay: cannot read truth file {args.truth}: {e}", file=sys.stderr)
            return EXIT_USAGE
        detector = TruthDetector()
    else:
        from ..vision.detector import ModelError
        from ..vision.pipeline import make_detector

        try:
            detector = make_detector(cfg, locate(config_arg(args)).path.parent)
        except (ModelError, OSError, ImportError) as e:  # one clear line, no traceback
            print(f"gedge replay: cannot load the detector: {e}", file=sys.stderr)
            return EXIT_USAGE

    from ..vision.pipeline import VisionPipeline

    pipe = VisionPipeline(cfg, detector)
    snap_dir = Path(args.snapshots) if args.snapshots else None
    if snap_dir is not None:
        try:
            snap_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # checked before the run, not after minutes of replay
            print(f"gedge replay: cannot create {snap_dir}: {e.strerror or e}", file=sys.stderr)
            return EXIT_USAGE
    size = (cfg.camera.width, cfg.camera.height)
    if (clip.width, clip.height) != size and clip.width:
        print(f"gedge replay: note: clip is {clip.width}x{clip.height}, frames are scaled to the configured "
              f"{size[0]}x{size[1]} (the zones' pixels)", file=sys.stderr)
    started, cpu0 = time.perf_counter(), time.process_time()
    n = 0
    status = EXIT_OK
    try:
        for frame, t in clip.frames():
            n += 1
            if frame.shape[1] != size[0] or frame.shape[0] != size[1]:
                import cv2

                frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            if truth is not None:
                detector.feed(truth.at(t))
            for ev in pipe.process(frame, t):
                _print_event(ev, args.json)
                if snap_dir is not None and ev.snapshot_jpeg:
                    (snap_dir / f"{ev.t:08.2f}-{ev.kind}-{ev.zone}-{ev.place_id}.jpg").write_bytes(ev.snapshot_jpeg)
    except VideoError as e:
        print(f"gedge replay: {e}", file=sys.stderr)
        status = EXIT_FAILURE
    except OSError as e:  # a snapshot that cannot be written (disk full): one line, not a traceback
        print(f"gedge replay: cannot write a snapshot into {snap_dir}: {e.strerror or e}", file=sys.stderr)
        status = EXIT_FAILURE
    if args.stats:
        wall = time.perf_counter() - started
        print(f"frames {n}, clip {n / max(clip.fps, 1e-6):.1f} s, detector runs {pipe.stats.detector_runs} "
              f"({100.0 * pipe.stats.detector_runs / max(n, 1):.1f} %), wall {wall:.1f} s, "
              f"cpu {time.process_time() - cpu0:.1f} s, {n / max(wall, 1e-6):.0f} frames/s", file=sys.stderr)
    return status


def _print_event(ev, as_json: bool) -> None:
    if as_json:
        print(json.dumps(ev.as_dict(), ensure_ascii=False), flush=True)
    else:
        print(f"{ev.t:8.2f}  {ev.kind:<17} zone={ev.zone} place={ev.place_id} count={ev.count} dwell={ev.dwell_s:.1f}s",
              flush=True)
