"""`gedge detect`: run the detector on still pictures (to check a model against a site's own frames)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..i18n import _
from . import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, config_arg, print_problems


def register(sub, common) -> None:
    p = sub.add_parser("detect", parents=[common], help=_("run the detector on pictures; print the boxes"),
                       description=_("Run the detector on still pictures. Backend, model, input size and "
                                   "confidence default to the config's `vision` section."))
    p.add_argument("images", nargs="+", metavar="IMAGE", type=Path)
    p.add_argument("--backend", choices=["onnx", "ultralytics"], help=_("detector backend (default: vision.backend)"))
    p.add_argument("--model", metavar="PATH", help=_("model file (default: vision.model)"))
    p.add_argument("--conf", type=float, help=_("minimum confidence (default: vision.conf)"))
    p.add_argument("--imgsz", type=int, help=_("input size, a multiple of 32 (default: vision.imgsz)"))
    p.add_argument("--no-verify", action="store_true",
                   help=_("the detector alone, without the crop verifier of vision.verifier"))
    p.add_argument("--json", action="store_true", help=_("one JSON object per image"))
    p.add_argument("--draw", metavar="DIR", type=Path, help=_("write each picture with its boxes drawn into DIR"))
    p.set_defaults(func=_detect)


def _detect(args) -> int:
    import cv2

    from ..config import ConfigError, load_config, locate
    from ..paths import resolve_resource
    from ..vision.detector import ModelError, draw_detections, load_detector
    from ..vision.pipeline import with_verifier

    try:
        cfg = load_config(config_arg(args))
    except ConfigError as e:
        return print_problems(e)
    v = cfg.vision
    if args.conf is not None and not (0 < args.conf < 1):
        print(_("gedge detect: --conf must be between 0 and 1"), file=sys.stderr)
        return EXIT_USAGE
    imgsz = args.imgsz or v.imgsz
    if imgsz % 32 or not (64 <= imgsz <= 1280):
        print(_("gedge detect: --imgsz must be a multiple of 32 between 64 and 1280"), file=sys.stderr)
        return EXIT_USAGE
    base_dir = locate(config_arg(args)).path.parent
    model = Path(args.model) if args.model else resolve_resource(v.model, base_dir)
    conf = args.conf or v.conf
    try:
        det = load_detector(args.backend or v.backend, model, imgsz, conf, v.iou, v.threads)
        if not args.no_verify:
            det = with_verifier(det, v, base_dir, conf)
    except ModelError as e:
        print(_("gedge detect: {reason}").format(reason=e), file=sys.stderr)
        return EXIT_USAGE
    if args.draw:
        try:
            args.draw.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            print(_("gedge detect: cannot use --draw {path}: {reason}").format(path=args.draw, reason=e.strerror), file=sys.stderr)
            return EXIT_USAGE
    failed = 0
    drawn: set[str] = set()
    for path in args.images:
        # checked first: OpenCV would add its own warning line for a missing file
        img = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if img is None:
            why = ((_("not an image OpenCV can read") if path.is_file() else _("not a file")) if path.exists()
                   else _("no such file"))
            print(_("gedge detect: cannot read image {path} ({reason})").format(path=path, reason=why), file=sys.stderr)
            failed += 1
            continue
        dets = det.detect(img)
        h, w = img.shape[:2]
        if args.json:
            print(json.dumps({"image": str(path), "width": w, "height": h, "boxes": [d.as_dict() for d in dets]}), flush=True)
        else:
            counts = {}
            for d in dets:
                counts[d.cls] = counts.get(d.cls, 0) + 1
            summary = ", ".join(f"{n} {c}" for c, n in sorted(counts.items())) or _("nothing")
            print(f"{path}: {w}x{h}: {summary}")
            for d in dets:
                print(f"  {d.cls:12s} {d.conf:.2f}  " + " ".join(f"{v:.0f}" for v in d.xyxy))
        if args.draw:
            # a.jpg and a.png (or two a.jpg from different folders) must not overwrite each other
            name, n = path.stem + ".jpg", 1
            while name in drawn:
                n += 1
                name = f"{path.stem}-{n}.jpg"
            drawn.add(name)
            cv2.imwrite(str(args.draw / name), draw_detections(img, dets))
    return EXIT_FAILURE if failed else EXIT_OK
