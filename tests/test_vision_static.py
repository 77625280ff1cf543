"""The static-object finder on synthetic frames: noise, light changes, people, bins, removal."""
from __future__ import annotations

import numpy as np
import pytest

from edge.vision.picture import small_picture
from edge.vision.static import StaticFinder

W, H = 640, 480  # the camera frame the boxes are measured in
RW, RH = W // 2, H // 2  # frames are rendered at half size (cheap); the finder's picture is 160 px either way
FPS = 2.0


def room(seed: int = 1) -> np.ndarray:
    """A fixed room: a smooth floor with some texture and a light fall-off."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:RH, 0:RW].astype(np.float32)
    base = 120 + 40 * (yy / RH) - 20 * (xx / RW)
    tex = np.kron(rng.normal(0, 6, (RH // 8, RW // 8)), np.ones((8, 8)))
    return np.clip(base + tex, 0, 255).astype(np.float32)


def paint_object(img: np.ndarray, box, level: float = 40.0) -> None:
    x1, y1, x2, y2 = (v // 2 for v in box)  # box in camera pixels, img at half size
    img[y1:y2, x1:x2] = level
    img[y1:y1 + 2, x1:x2] = level + 60  # a lit top edge: it has edges of its own


class Clip:
    """Frames of the room with sensor noise and a global gain; `objects` lie on the floor."""

    def __init__(self, seed: int = 3):
        self.base = room()
        rng = np.random.default_rng(seed)
        self.noise = [rng.normal(0, 3.0, (RH, RW)).astype(np.float32) for _ in range(5)]  # cycled: cheap
        self.n = 0
        self.objects: list[tuple[int, int, int, int]] = []
        self.gain = 1.0

    def frame(self) -> np.ndarray:
        img = self.base.copy()
        for box in self.objects:  # (x1, y1, x2, y2) or (x1, y1, x2, y2, grey level)
            paint_object(img, box[:4], *box[4:])
        self.n += 1
        img = img * self.gain + self.noise[self.n % len(self.noise)]
        grey = np.clip(img, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)


def run(finder: StaticFinder, clip: Clip, t0: float, t1: float, persons=(), bins=(), hook=None):
    """Feed the finder from t0 to t1 at FPS; returns the blobs after the last update."""
    t = t0
    blobs = []
    while t < t1 - 1e-9:
        if hook is not None:
            hook(t)
        blobs = finder.update(small_picture(clip.frame(), 160), t, (W, H), persons, bins)
        t += 1.0 / FPS
    return blobs


BAG = (300, 340, 360, 400)


def test_object_left_is_found_with_its_time_and_box():
    f, clip = StaticFinder(), Clip()
    assert run(f, clip, 0, 20) == []  # an empty noisy room has nothing
    clip.objects.append(BAG)
    assert run(f, clip, 20, 23) == []  # not yet: it must stay a while
    blobs = run(f, clip, 23, 40)
    assert len(blobs) == 1
    b = blobs[0]
    assert 20.0 <= b.since <= 22.5  # came to rest at 20 s (the recent picture needs a moment)
    x1, y1, x2, y2 = b.xyxy
    assert abs(x1 - BAG[0]) <= 12 and abs(y2 - BAG[3]) <= 12 and abs(x2 - BAG[2]) <= 12
    assert b.outline.shape[1] == 2 and len(b.outline) >= 4
    first_id = b.id
    assert run(f, clip, 40, 60)[0].id == first_id  # the same object keeps its id


def test_global_light_changes_and_exposure_jumps_are_not_objects():
    f, clip = StaticFinder(), Clip()
    run(f, clip, 0, 20)
    clip.gain = 0.55  # the lights go down at once (or the camera's exposure jumps)
    assert run(f, clip, 20, 60) == []
    clip.gain = 1.3
    assert run(f, clip, 60, 100) == []


def test_without_light_normalization_the_same_jump_would_be_an_object():
    # the check above can fail: raw grey would see the whole floor as new
    f, clip = StaticFinder(min_area_frac=0.003), Clip()

    def raw(frame, width):
        import cv2
        g = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (width, width * 3 // 4), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(g, (5, 5), 0)

    t = 0.0
    blobs = []
    while t < 40:
        if t >= 20:
            clip.gain = 1.4
        blobs = f.update(raw(clip.frame(), 160), t, (W, H))
        t += 0.5
    assert blobs, "raw grey should have failed under a light change"


def test_a_person_standing_still_is_not_an_object():
    f, clip = StaticFinder(), Clip()
    run(f, clip, 0, 20)
    person = (400, 200, 460, 420)
    clip.objects.append(person)  # a still figure where the detector sees a person
    assert run(f, clip, 20, 140, persons=[person]) == []
    clip.objects.remove(person)  # they leave: the room never learned them, nothing is left behind
    assert run(f, clip, 140, 160) == []


def test_found_object_stays_found_while_someone_stands_in_front():
    f, clip = StaticFinder(), Clip()
    run(f, clip, 0, 20)
    clip.objects.append(BAG)
    first = run(f, clip, 20, 40)
    assert len(first) == 1
    person = (290, 150, 370, 410)
    clip.objects.append(person)
    run(f, clip, 40, 55, persons=[person])
    clip.objects.remove(person)
    after = run(f, clip, 55, 57)
    assert [b.id for b in after] == [first[0].id] and after[0].since == first[0].since


def test_a_bin_pulled_out_and_put_back_leaves_nothing():
    f, clip = StaticFinder(), Clip()
    home = (60, 170, 180, 330)
    clip.objects.append(home)
    run(f, clip, 0, 20, bins=[home])
    out = (100, 250, 220, 410)  # pulled forward onto the floor for collection
    clip.objects = [out]
    seen = run(f, clip, 20, 80, bins=[out])
    # where it stood the wall shows again: the room's edges, not the picture's: a hole, learned
    assert all(not (b.xyxy[0] < 180 and b.xyxy[3] <= 335) for b in seen), seen
    assert all(b.xyxy[3] <= 335 for b in seen)  # nothing of the pulled-out bin itself
    clip.objects = [home]  # put back
    assert run(f, clip, 80, 120, bins=[home]) == []


def test_without_the_bin_veto_the_pulled_out_bin_is_an_object():
    f, clip = StaticFinder(), Clip()
    run(f, clip, 0, 20)
    clip.objects.append((100, 250, 220, 410))
    assert run(f, clip, 20, 60), "the veto test above must be able to fail"


def test_object_taken_away_heals_at_once():
    f, clip = StaticFinder(), Clip()
    run(f, clip, 0, 20)
    clip.objects.append(BAG)
    assert run(f, clip, 20, 80)
    clip.objects.remove(BAG)
    assert run(f, clip, 80, 81) == []
    assert run(f, clip, 81, 120) == []  # and no ghost of it later


def test_object_in_the_first_frame_then_taken_away_is_no_object():
    f, clip = StaticFinder(), Clip()
    clip.objects.append(BAG)
    run(f, clip, 0, 20)  # learned as part of the room
    clip.objects.remove(BAG)
    assert run(f, clip, 20, 60) == []
    assert len(f.holes()) == 1  # seen as something away from the room, not reported


def test_small_specks_and_moving_things_are_ignored():
    f, clip = StaticFinder(), Clip()
    run(f, clip, 0, 20)
    clip.objects.append((500, 300, 506, 306))  # far below min_area_frac
    x = [0]

    def walk(t):  # something crossing the floor, never still
        clip.objects[1:] = [(x[0], 380, x[0] + 40, 440)]
        x[0] = (x[0] + 30) % 560

    assert run(f, clip, 20, 60, hook=walk) == []


def test_rate_and_determinism():
    f1, f2 = StaticFinder(fps=2.0), StaticFinder(fps=2.0)
    c1, c2 = Clip(seed=9), Clip(seed=9)
    for c in (c1, c2):
        c.objects.append(BAG)
    for i in range(200):  # 10 fps in: the finder works 2 times a second
        t = i / 10
        if i == 100:
            c1.objects.append((100, 300, 160, 360))
            c2.objects.append((100, 300, 160, 360))
        b1 = f1.update(small_picture(c1.frame(), 160), t, (W, H))
        b2 = f2.update(small_picture(c2.frame(), 160), t, (W, H))
    assert f1.updates == pytest.approx(40, abs=1)
    assert [b.as_dict() for b in b1] == [b.as_dict() for b in b2] and len(b1) == 1


def test_an_object_held_still_then_put_down_counts_from_the_put_down():
    f, clip = StaticFinder(), Clip()
    run(f, clip, 0, 10)
    person, figure = (380, 180, 470, 420), (380, 180, 470, 420, 180.0)  # a light-clothed figure
    clip.objects = [figure, (400, 290, 460, 340)]  # stands 10 s holding it in front of them
    run(f, clip, 10, 20, persons=[person])
    clip.objects = [figure, (400, 360, 470, 415)]  # puts it down at their feet
    run(f, clip, 20, 21, persons=[person])
    clip.objects = [(400, 360, 470, 415)]  # and goes
    blobs = run(f, clip, 21, 35)
    assert len(blobs) == 1 and blobs[0].since >= 20.0  # not from when it was in the hand
