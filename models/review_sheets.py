#!/usr/bin/env python3
"""Contact sheets for a person to say, picture by picture, whether it holds a bag.

    python models/review_sheets.py data/garbage/clean_test --out review/clean_test
    # fill in review/clean_test/review.csv (none / bag), keep it as models/clean-review.csv

The real sets do not label every bag of a pile, so a picture made bag-free by painting out or
cropping away the labelled bags may still show one. Such a picture is no negative to train
on, and a bag found there is no false bag. The sheets number each picture (4 x 3 a sheet) and
draw the boxes a model gave, where given; `review.csv` lists them in that order with an empty
verdict column: `none` where the picture holds no bag anywhere, `bag` where it does.
models/mine_negatives.py and models/evaluate.py read the filled-in file.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np

VERDICTS = ("none", "bag")
SHEET_COLS, SHEET_ROWS, TILE = 4, 3, (400, 300)


def write_sheets(pictures: list, folder: Path, cols: int = SHEET_COLS, rows: int = SHEET_ROWS,
                 tile_size: tuple[int, int] = TILE) -> int:
    """Numbered sheets of (name, image, detections) with the boxes drawn, and review.csv in that order.
    Returns the number of sheets."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("sheet_*.png"):  # a shorter list must not leave the last run's sheets behind
        old.unlink()
    per = cols * rows
    for start in range(0, len(pictures), per):
        tiles = []
        for i, (_, img, found) in enumerate(pictures[start:start + per], start):
            tile = img.copy()
            for d in found:
                a, b, c, e = (int(v) for v in d.xyxy)
                cv2.rectangle(tile, (a, b), (c, e), (0, 0, 255), max(2, img.shape[1] // 200))
            tile = cv2.resize(tile, tile_size)
            cv2.putText(tile, f"#{i}", (6, 30), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 255, 255), 2)
            tiles.append(tile)
        tiles += [np.zeros_like(tiles[0])] * (per - len(tiles))
        strips = [np.hstack(tiles[r * cols:(r + 1) * cols]) for r in range(rows)]
        cv2.imwrite(str(folder / f"sheet_{start // per:02d}.png"), np.vstack(strips))
    with open(folder / "review.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "view", "max_conf", "verdict"])
        for i, (name, _, found) in enumerate(pictures):
            w.writerow([i, name, f"{max(d.conf for d in found):.2f}" if found else "", ""])
    return (len(pictures) + per - 1) // per


def view_name(picture: str, xyxy, w: int, h: int) -> str:
    """`picture@x1;y1;x2;y2` with the box normalized: the review file alone says what to add."""
    x1, y1, x2, y2 = xyxy
    return f"{picture}@{x1 / w:.4f};{y1 / h:.4f};{x2 / w:.4f};{y2 / h:.4f}"


def parse_view(view: str) -> tuple[str, tuple[float, float, float, float]]:
    picture, box = view.rsplit("@", 1)
    x1, y1, x2, y2 = (min(1.0, max(0.0, float(v))) for v in box.split(";"))
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"candidate {view!r}: an empty box")
    return picture, (x1, y1, x2, y2)


def confirmed_boxes(verdicts: dict[str, str]) -> dict[str, list[tuple[float, float, float, float]]]:
    """Picture -> the normalized boxes of the candidates marked `bag` (view names as view_name writes)."""
    out: dict[str, list] = {}
    for view, verdict in verdicts.items():
        if verdict == "bag":
            picture, box = parse_view(view)
            out.setdefault(picture, []).append(box)
    return out


def read_review(path: Path) -> dict[str, str]:
    """view -> verdict; a verdict other than none/bag is an error (a typo must not train on a bag)."""
    verdicts = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            v = (row.get("verdict") or "").strip().lower()
            if v not in VERDICTS:
                raise ValueError(f"{path}: view {row.get('view')!r} has verdict {v!r}; write one of {', '.join(VERDICTS)}")
            verdicts[row["view"]] = v
    return verdicts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="a dataset folder with images/ (e.g. data/garbage/clean_test)")
    ap.add_argument("--out", type=Path, required=True, help="where the sheets and review.csv go")
    args = ap.parse_args(argv)
    images = sorted((args.folder / "images").glob("*.jpg")) if (args.folder / "images").is_dir() else []
    pictures = [(p.name, img, []) for p in images if (img := cv2.imread(str(p))) is not None]
    if not pictures:
        print(f"review_sheets: no pictures in {args.folder / 'images'}", file=sys.stderr)
        return 2
    sheets = write_sheets(pictures, args.out)
    print(f"{len(pictures)} pictures on {sheets} sheets in {args.out}; fill in {args.out / 'review.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
