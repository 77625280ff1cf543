"""`gedge replay VIDEO`: the vision pipeline over a recorded clip, as fast as the CPU allows.

Frames are timed with the clip's own timestamps (no real-time waiting); one event per line:
reminder_due, incident_open, incident_update, incident_resolved, with t in seconds from the clip
start, the zone and place, the bag count and which eye saw it (seen_by). With --snapshots, each
object the static-object finder finds is also written as a picture with its outline.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..config import ConfigError, load_config, locate
from ..i18n import _
from . import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, config_arg, print_problems


def register(sub, common) -> None:
    p = sub.add_parser("replay", parents=[common], help=_("run the bag pipeline over a recorded clip and print its events"))
    p.add_argument("video", metavar="VIDEO", help=_("a video file (mp4, mkv, avi, …)"))
    p.add_argument("--json", action="store_true", help=_("one JSON object per event line"))
    p.add_argument("--snapshots", metavar="DIR",
                   help=_("write each event's evidence JPEG into DIR, and a picture of each object the "
                          "static-object finder finds (outlined)"))
    p.add_argument("--truth", metavar="TRUTH_JSON",
                   help=_("use the ground-truth boxes of a rendered clip (OUT.truth.json) instead of the model: "
                        "checks the rules and zones apart from the detector"))
    p.add_argument("--stats", action="store_true",
                   help=_("print frames, detector runs, the static-object finder's objects and timing to stderr at the end"))
    p.set_defaults(func=cmd_replay)


def cmd_replay(args) -> int:
    from hw.camera import VideoClip, VideoError

    try:
        cfg = load_config(config_arg(args))
    except ConfigError as e:
        return print_problems(e)
    if not Path(args.video).exists():
        print(_("gedge replay: {path}: no such file").format(path=args.video), file=sys.stderr)
        return EXIT_USAGE
    try:
        clip = VideoClip(args.video)
    except VideoError as e:
        print(_("gedge replay: {reason}").format(reason=e), file=sys.stderr)
        return EXIT_FAILURE

    truth = None
    if args.truth:
        from ..vision.truth import TruthDetector, TruthTimeline

        try:
            truth = TruthTimeline.load(args.truth)
        except (OSError, ValueError) as e:
            print(_("gedge replay: cannot read truth file {path}: {reason}").format(path=args.truth, reason=e), file=sys.stderr)
            return EXIT_USAGE
        detector = TruthDetector()
    else:
        from ..vision.detector import ModelError
        from ..vision.pipeline import make_detector

        try:
            detector = make_detector(cfg, locate(config_arg(args)).path.parent)
        except (ModelError, OSError, ImportError) as e:  # one clear line, no traceback
            print(_("gedge replay: cannot load the detector: {reason}").format(reason=e), file=sys.stderr)
            return EXIT_USAGE

    from ..vision.pipeline import VisionPipeline

    pipe = VisionPipeline(cfg, detector)
    snap_dir = Path(args.snapshots) if args.snapshots else None
    if snap_dir is not None:
        try:
            snap_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # checked before the run, not after minutes of replay
            print(_("gedge replay: cannot create {path}: {reason}").format(path=snap_dir, reason=e.strerror or e), file=sys.stderr)
            return EXIT_USAGE
    size = (cfg.camera.width, cfg.camera.height)
    if (clip.width, clip.height) != size and clip.width:
        print(_("gedge replay: note: clip is {width}x{height}, frames are scaled to the configured "
                "{cfg_width}x{cfg_height} (the zones' pixels)").format(
            width=clip.width, height=clip.height, cfg_width=size[0], cfg_height=size[1]), file=sys.stderr)
    started, cpu0 = time.perf_counter(), time.process_time()
    n = 0
    status = EXIT_OK
    blobs_seen: dict[int, object] = {}  # every object the finder found: id -> its first sighting
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
            for blob in pipe.stats.blobs:
                if blob.id not in blobs_seen:
                    blobs_seen[blob.id] = blob
                    if snap_dir is not None:
                        jpeg = pipe.evidence(frame, [], [], outlines=[(f"object #{blob.id}", blob.outline)])
                        (snap_dir / f"{t:08.2f}-object-{blob.id}.jpg").write_bytes(jpeg)
    except VideoError as e:
        print(_("gedge replay: {reason}").format(reason=e), file=sys.stderr)
        status = EXIT_FAILURE
    except OSError as e:  # a snapshot that cannot be written (disk full): one line, not a traceback
        print(_("gedge replay: cannot write a snapshot into {path}: {reason}").format(path=snap_dir, reason=e.strerror or e),
              file=sys.stderr)
        status = EXIT_FAILURE
    if args.stats:
        wall = time.perf_counter() - started
        print(f"frames {n}, clip {n / max(clip.fps, 1e-6):.1f} s, detector runs {pipe.stats.detector_runs} "
              f"({100.0 * pipe.stats.detector_runs / max(n, 1):.1f} %), wall {wall:.1f} s, "
              f"cpu {time.process_time() - cpu0:.1f} s, {n / max(wall, 1e-6):.0f} frames/s", file=sys.stderr)
        if pipe.finder is None:
            print(_("static-object finder: off"), file=sys.stderr)
        else:
            print(_("static-object finder ({mode}): {looks} looks, cpu {cpu:.2f} s, {found} objects found, "
                    "{now} there at the end").format(mode=pipe.static_mode, looks=pipe.stats.static_updates,
                                                     cpu=pipe.stats.static_s, found=len(blobs_seen),
                                                     now=len(pipe.stats.blobs)), file=sys.stderr)
            for b in blobs_seen.values():
                x1, y1, x2, y2 = (round(v) for v in b.xyxy)
                print(_("  object #{id}: still since {since:.1f} s, box {x1},{y1},{x2},{y2}, share of the frame {share:.4f}").format(
                    id=b.id, since=b.since, x1=x1, y1=y1, x2=x2, y2=y2, share=b.area_frac), file=sys.stderr)
    return status


def _print_event(ev, as_json: bool) -> None:
    if as_json:
        print(json.dumps(ev.as_dict(), ensure_ascii=False), flush=True)
    else:
        print(f"{ev.t:8.2f}  {ev.kind:<17} zone={ev.zone} place={ev.place_id} count={ev.count} dwell={ev.dwell_s:.1f}s "
              f"seen_by={ev.seen_by}", flush=True)
