"""Evidence that proves: every picture says when, where and for which incident it was taken (in a
corner, legible on any background, and in its EXIF); a resolved bag_outside_bin carries a new
picture of the cleared place; the reminders spoken before an incident ride on its first revision."""
from __future__ import annotations

import io
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from edge.config.edit import edited_text
from edge.config.loader import validate_text
from edge.runtime.router import Router
from edge.vision.bag_rules import BagEvent
from edge.vision.stamp import Stamp, draw_stamp, stamp_jpeg
from edge.voice.policy import VoicePolicy

Image = pytest.importorskip("PIL.Image", reason="Pillow reads the EXIF back (an independent reader)")

ROOT = Path(__file__).resolve().parent.parent
SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = 1795863731.412  # 2026-11-28 19:02:11.412 +08:00
INCIDENT = "6f1c0a52-0d3e-4a53-9b8e-2f0f6c1d9a10"


def _jpeg(value: int = 128, size=(480, 640)) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((*size, 3), value, np.uint8))
    assert ok
    return buf.tobytes()


def _exif(jpeg: bytes) -> tuple[dict, dict]:
    img = Image.open(io.BytesIO(jpeg))
    img.load()  # the picture itself still decodes
    exif = img.getexif()
    return dict(exif), dict(exif.get_ifd(0x8769))


def _stamp(incident: str | None = INCIDENT) -> Stamp:
    return Stamp(T0, SHANGHAI, "hk-jxl-piaoying-03", "HK-JXL-0317", incident)


def test_the_exif_says_when_where_and_which_incident():
    out = stamp_jpeg(_jpeg(), _stamp())
    ifd0, exif = _exif(out)
    assert exif[0x9003] == "2026:11:28 19:02:11"  # DateTimeOriginal, local time
    assert exif[0x9011] == "+08:00"  # OffsetTimeOriginal
    assert ifd0[0x0132] == "2026:11:28 19:02:11"
    description = ifd0[0x010E]
    for part in ("device_id=hk-jxl-piaoying-03", "point_id=HK-JXL-0317", f"incident_id={INCIDENT}"):
        assert part in description
    comment = exif[0x9286]
    assert comment.startswith(b"UNICODE\0") and f"incident_id={INCIDENT}" in comment[8:].decode("utf-16-be")


def test_a_second_stamp_replaces_the_first_exif():
    twice = stamp_jpeg(stamp_jpeg(_jpeg(), _stamp("first")), _stamp("second"))
    assert twice.count(b"Exif\0\0") == 1
    assert "incident_id=second" in _exif(twice)[0][0x010E]


@pytest.mark.parametrize("background", [0, 255, 128])
def test_the_corner_label_is_legible_on_any_background(background):
    img = np.full((480, 640, 3), background, np.uint8)
    draw_stamp(img, _stamp())
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    corner = grey[-45:, :250]  # inside the label, in the bottom-left corner
    text = corner > 200
    box = corner < 90
    assert text.sum() > 300, "light text is drawn"
    assert box.sum() > 5 * text.sum(), "on a dark box around it"
    assert (grey[:300, 340:] == background).all(), "the rest of the picture is untouched"


def test_the_label_names_time_device_point_and_incident():
    lines = _stamp().lines()
    assert lines == ["2026-11-28 19:02:11 +08:00", "device hk-jxl-piaoying-03  point HK-JXL-0317",
                     f"incident {INCIDENT}"]


# --- the router: one id for picture and incident, the cleared place, one first revision -----------

def _router(tmp_path: Path) -> Router:
    text = (ROOT / "config" / "default.yaml").read_text(encoding="utf-8")
    for key, value in {"voice.quiet_hours": None, "schedule.opening_hours": [],
                       "storage.state_dir": str(tmp_path / "state")}.items():
        text = edited_text(text, key, value)
    cfg, _ = validate_text(text, "config.yaml", tmp_path)
    return Router(cfg, VoicePolicy(cfg), {})


def _meta(name: str) -> dict:
    return {"sha256": name * 64, "bytes": 100, "content_type": "image/jpeg"}


def test_the_picture_is_stamped_with_the_id_the_incident_then_gets(tmp_path):
    r = _router(tmp_path)
    opening = BagEvent("incident_open", 60.0, "floor", 1, 60.0, snapshot_jpeg=b"x")
    promised = r.incident_id_for(opening)
    assert promised and r.incident_id_for(opening) == promised  # asking twice promises the same id
    doc = r.bag(opening, T0, 0.0, snapshot=_meta("a")).revisions[0]
    assert doc["id"] == promised
    resolving = BagEvent("incident_resolved", 90.0, "floor", 0, 90.0, snapshot_jpeg=b"y")
    assert r.incident_id_for(resolving) == promised
    # a second pile open at the same time gets an id of its own
    other = BagEvent("incident_open", 80.0, "floor", 1, 60.0, snapshot_jpeg=b"z", place_id=2)
    assert r.incident_id_for(other) not in (None, promised)
    assert r.incident_id_for(BagEvent("reminder_due", 3.0, "floor", 1, 3.0)) is None


def test_a_resolved_bag_carries_the_picture_of_the_cleared_place(tmp_path):
    r = _router(tmp_path)
    opened = r.bag(BagEvent("incident_open", 60.0, "floor", 1, 60.0), T0, 0.0, snapshot=_meta("a")).revisions[0]
    resolved = r.bag(BagEvent("incident_resolved", 90.0, "floor", 0, 90.0), T0 + 30, 30.0,
                     snapshot=_meta("b")).revisions[0]
    assert opened["snapshot"]["sha256"] == "a" * 64
    assert resolved["state"] == "resolved" and resolved["snapshot"]["sha256"] == "b" * 64
    # no new picture (it could not be stored): the resolve keeps the last one rather than none
    r.bag(BagEvent("incident_open", 100.0, "floor", 1, 60.0), T0 + 40, 40.0, snapshot=_meta("c"))
    kept = r.bag(BagEvent("incident_resolved", 120.0, "floor", 0, 90.0), T0 + 60, 60.0).revisions[0]
    assert kept["snapshot"]["sha256"] == "c" * 64


def test_reminders_spoken_before_the_incident_ride_on_its_first_revision(tmp_path):
    r = _router(tmp_path)
    spoken = r.bag(BagEvent("reminder_due", 3.0, "floor", 1, 3.0), T0, 0.0)
    assert len(spoken.voice) == 1 and spoken.revisions == []
    d = r.bag(BagEvent("incident_open", 60.0, "floor", 1, 60.0), T0 + 57, 57.0, snapshot=_meta("a"))
    assert len(d.revisions) == 1, "one revision, not a second one in the same millisecond for reminders"
    assert d.revisions[0]["rev"] == 1 and d.revisions[0]["reminders"] == 1


# --- the agent: what is stored is stamped with the incident it belongs to --------------------------

class NoDetector:
    def detect(self, frame):
        return []


def _wait(pred, timeout=15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_the_agent_stores_stamped_pictures_for_open_and_resolve(tmp_path):
    from edge.runtime.agent import Agent

    text = (ROOT / "config" / "default.yaml").read_text(encoding="utf-8")
    for key, value in {"device.id": "stamp-room", "sensors": [], "actuators": [], "voice.enabled": False,
                       "uplink.http.enabled": False, "storage.state_dir": str(tmp_path / "state"),
                       "storage.cache_dir": str(tmp_path / "cache")}.items():
        text = edited_text(text, key, value)
    cfg, _ = validate_text(text, "config.yaml", tmp_path)
    events: list = []
    agent = Agent(cfg, tmp_path, listener=events.append, detector=NoDetector())
    agent.start()
    try:
        agent._put(("bag", BagEvent("incident_open", 60.0, "floor", 1, 60.0, snapshot_jpeg=_jpeg(40))))
        agent._put(("bag", BagEvent("incident_resolved", 90.0, "floor", 0, 90.0, snapshot_jpeg=_jpeg(200))))

        def revisions():
            return [e for e in events if e.get("what") == "incident" and e["type"] == "bag_outside_bin"]

        assert _wait(lambda: any(e["state"] == "resolved" for e in revisions()))
        opened, resolved = revisions()[0], revisions()[-1]
        assert opened["id"] == resolved["id"]
        assert opened["snapshot"]["sha256"] != resolved["snapshot"]["sha256"], "the resolve has its own picture"
        for rev, background in ((opened, 40), (resolved, 200)):
            picture = agent.snapshots.get(rev["snapshot"]["sha256"])
            ifd0, exif = _exif(picture)
            assert f"incident_id={rev['id']}" in ifd0[0x010E] and "device_id=stamp-room" in ifd0[0x010E]
            assert "point_id=DEMO-0001" in ifd0[0x010E] and exif[0x9011] == "+08:00"
            grey = cv2.imdecode(np.frombuffer(picture, np.uint8), cv2.IMREAD_GRAYSCALE)
            assert abs(float(np.median(grey[:200, 400:])) - background) < 8  # the scene itself
            assert (grey[-40:, :200] > 200).sum() > 100 and (grey[-40:, :200] < 90).sum() > 1000  # the label
    finally:
        agent.stop()
