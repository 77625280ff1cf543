"""`gedge camera …` and `gedge zones …`: look through the camera and set up the zones on site."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from hw.camera import redact

from ..i18n import _
from . import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, load_config_or_report


def register(sub, common) -> None:
    p = sub.add_parser("camera", parents=[common], help=_("camera snapshot and health"))
    cmds = p.add_subparsers(dest="camera_command", metavar="ACTION", required=True)
    s = cmds.add_parser("snapshot", parents=[common], help=_("save the current frame as a JPEG"))
    s.add_argument("out", metavar="OUT.jpg")
    s.add_argument("--zones", action="store_true", help=_("draw the zones on it"))
    s.add_argument("--timeout", type=float, default=None, metavar="S",
                   help=_("wait this long for a frame (default: camera.stall_timeout_s)"))
    s.set_defaults(func=cmd_snapshot)
    s = cmds.add_parser("status", parents=[common], help=_("run the camera a few seconds and report its health"))
    s.add_argument("--seconds", type=float, default=3.0, metavar="S", help=_("how long to watch (default 3)"))
    s.add_argument("--json", action="store_true", help=_("as JSON"))
    s.set_defaults(func=cmd_status)

    z = sub.add_parser("zones", parents=[common], help=_("show the floor and bin zones"))
    zc = z.add_subparsers(dest="zones_command", metavar="ACTION", required=True)
    s = zc.add_parser("show", parents=[common], help=_("list the zones, or draw them on a current frame"))
    s.add_argument("--image", metavar="OUT.jpg", help=_("write the current camera frame with the zones drawn"))
    s.add_argument("--on", metavar="PICTURE", help=_("draw on this picture instead of a camera frame"))
    s.add_argument("--json", action="store_true", help=_("list the zones as JSON"))
    s.add_argument("--timeout", type=float, default=None, metavar="S", help=_("wait this long for a camera frame"))
    s.set_defaults(func=cmd_zones_show)


def grab_frame(cfg, timeout: float | None = None):
    """One current frame from the configured camera, or (None, health) when none came in time."""
    from hw.camera import CameraError, open_camera

    try:
        cam = open_camera(cfg.camera)
    except CameraError as e:
        return None, str(e)
    wait = timeout if timeout is not None else cfg.camera.stall_timeout_s
    cam.start()
    try:
        deadline = time.monotonic() + wait
        got = None
        while got is None and time.monotonic() < deadline:
            got = cam.wait_frame(0.2)
            health = cam.health()
            if got is None and health.status == "fault" and health.reconnects >= 1:
                break  # failed twice (e.g. an unplugged device): say so now rather than at the timeout
        health = cam.health()
    finally:
        cam.stop(timeout=2.0)
    if got is None:
        return None, health.reason or _("no frame within {seconds:g} s").format(seconds=wait)
    return got[0], None


def _write_jpeg(path: str, img, quality: int) -> str | None:
    """Write `img` as a JPEG at full size; None when done, else why not (one line, no traceback)."""
    from ..vision.evidence import encode_jpeg

    try:
        data = encode_jpeg(img, quality, max_width=img.shape[1])
    except ValueError:
        return _("cannot encode {path}").format(path=path)
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as e:  # a read-only card, a typo'd directory: say so, exit 1
        return _("cannot write {path}: {reason}").format(path=path, reason=e.strerror or e)
    return None


def cmd_snapshot(args) -> int:
    cfg = load_config_or_report(args)
    if cfg is None:
        return EXIT_USAGE
    frame, why = grab_frame(cfg, args.timeout)
    if frame is None:
        print(_("gedge camera snapshot: no frame from {source}: {reason}").format(source=redact(cfg.camera.source),
                                                                                  reason=redact(str(why))),
              file=sys.stderr)
        return EXIT_FAILURE
    if args.zones:
        from ..vision.evidence import draw_zones
        from ..vision.zones import ZoneMap

        frame = draw_zones(frame.copy(), ZoneMap.from_config(cfg.zones))
    why = _write_jpeg(args.out, frame, cfg.evidence.jpeg_quality)
    if why:
        print(_("gedge camera snapshot: {reason}").format(reason=why), file=sys.stderr)
        return EXIT_FAILURE
    print(_("{path}: {width}x{height} from {source}").format(
        path=args.out, width=frame.shape[1], height=frame.shape[0], source=redact(cfg.camera.source)))
    return EXIT_OK


def cmd_status(args) -> int:
    from hw.camera import CameraError, open_camera

    cfg = load_config_or_report(args)
    if cfg is None:
        return EXIT_USAGE
    try:
        cam = open_camera(cfg.camera)
    except CameraError as e:
        print(_("gedge camera status: {reason}").format(reason=e), file=sys.stderr)
        return EXIT_FAILURE
    cam.start()
    try:
        time.sleep(max(0.1, args.seconds))
        h = cam.health()
    finally:
        cam.stop(timeout=2.0)
    if args.json:
        print(json.dumps(h.as_dict(), ensure_ascii=False))
    else:
        size = f"{h.size[0]}x{h.size[1]}" if h.size else "-"
        status = h.status + (f" ({h.reason})" if h.reason else "")
        print(_("camera {source}: {status}; {fps:.1f} fps measured, {frames} frames, size {size}, "
                "reconnects {reconnects}").format(source=h.source, status=status, fps=h.fps, frames=h.frames,
                                                  size=size, reconnects=h.reconnects))
    return EXIT_OK if h.status == "ok" else EXIT_FAILURE


def cmd_zones_show(args) -> int:
    from ..vision.evidence import draw_zones
    from ..vision.zones import ZoneMap

    if args.on and not args.image:  # it would list the zones and draw nothing: say what is missing
        print(_("gedge zones show: --on {path} needs --image OUT.jpg, the file to draw the zones into")
              .format(path=args.on), file=sys.stderr)
        return EXIT_USAGE
    cfg = load_config_or_report(args)
    if cfg is None:
        return EXIT_USAGE
    zones = ZoneMap.from_config(cfg.zones)
    if args.json:
        print(json.dumps({"floor": [list(p) for p in zones.floor],
                          "bins": [{"id": b, "polygon": [list(p) for p in poly]} for b, poly in zones.bins]}))
    else:
        print(_("floor: {points}").format(points=_fmt(zones.floor)))
        for bin_id, poly in zones.bins:
            print(_("bin {id}: {points}").format(id=bin_id, points=_fmt(poly)))
    if not args.image:
        return EXIT_OK
    if args.on:
        import cv2

        frame = cv2.imread(args.on)
        if frame is None:
            print(_("gedge zones show: cannot read picture {path}").format(path=args.on), file=sys.stderr)
            return EXIT_USAGE
        size = (cfg.camera.width, cfg.camera.height)
        if (frame.shape[1], frame.shape[0]) != size:
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    else:
        frame, why = grab_frame(cfg, args.timeout)
        if frame is None:
            print(_("gedge zones show: no frame from {source}: {reason}").format(source=redact(cfg.camera.source),
                                                                                 reason=redact(str(why))),
                  file=sys.stderr)
            return EXIT_FAILURE
    img = draw_zones(frame.copy(), zones)
    why = _write_jpeg(args.image, img, 90)
    if why:
        print(_("gedge zones show: {reason}").format(reason=why), file=sys.stderr)
        return EXIT_FAILURE
    print(_("{path}: zones drawn on a {width}x{height} frame").format(path=args.image, width=img.shape[1], height=img.shape[0]),
          file=sys.stderr)
    return EXIT_OK


def _fmt(poly) -> str:
    return " ".join(f"({x:g},{y:g})" for x, y in poly)
