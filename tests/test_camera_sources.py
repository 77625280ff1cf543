"""Camera sources: source strings, the capture thread (newest frame only), reconnect with
backoff, stall detection, an unplugged device, a video file, and the simulated room."""
from __future__ import annotations

import sys
import threading
import time

import cv2
import numpy as np
import pytest

from edge.config.vision import Camera
from hw.camera import CameraError, CameraSource, open_camera, parse_source


def wait_for(pred, timeout: float = 5.0, step: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


@pytest.mark.parametrize("source,kind,target", [
    ("sim:bag_dropped_outside", "sim", "bag_dropped_outside"),
    ("0", "device", 0),
    ("/dev/video2", "device", "/dev/video2"),
    ("rtsp://user:pw@10.0.0.5/stream1", "stream", "rtsp://user:pw@10.0.0.5/stream1"),
    ("http://cam.local/video.mjpg", "stream", "http://cam.local/video.mjpg"),
    ("picamera2", "picamera2", 0),
    ("picamera2:1", "picamera2", 1),
    ("clips/room.mp4", "file", "clips/room.mp4"),
])
def test_parse_source(source, kind, target):
    spec = parse_source(source)
    assert (spec.kind, spec.target) == (kind, target)


def test_stream_passwords_never_show():
    assert "pw" not in parse_source("rtsp://user:pw@10.0.0.5/stream1").describe()


class FakeGrabber:
    """Scripted source: fails to open `open_failures` times, then delivers frames; `break_after`
    frames into a connection it raises (a lost stream); `block` makes read() hang (a stall)."""

    paced = False

    def __init__(self, open_failures=0, break_after=None, frame_shape=(48, 64, 3)):
        self.open_failures = open_failures
        self.break_after = break_after
        self.frame_shape = frame_shape
        self.opens: list[float] = []
        self.block = threading.Event()
        self.n = 0
        self.in_conn = 0

    def open(self):
        self.opens.append(time.monotonic())
        if len(self.opens) <= self.open_failures:
            raise CameraError("connection refused")
        self.in_conn = 0

    def read(self):
        while self.block.is_set():
            time.sleep(0.01)
        time.sleep(0.01)
        if self.break_after is not None and self.in_conn >= self.break_after:
            self.break_after = None  # once
            raise CameraError("stream lost")
        self.n += 1
        self.in_conn += 1
        return np.full(self.frame_shape, self.n % 255, np.uint8)

    def close(self):
        pass


def make(grabber, **kw):
    args = dict(width=64, height=48, fps=50, reconnect_initial_s=0.05, reconnect_max_s=0.2, stall_timeout_s=0.3)
    args.update(kw)
    return CameraSource(grabber, "fake", **args)


def test_latest_is_the_newest_frame():
    g = FakeGrabber()
    with make(g) as cam:
        assert cam.wait_frame(2.0) is not None
        time.sleep(0.2)
        frame, t = cam.latest()
        assert frame[0, 0, 0] == g.n % 255 or frame[0, 0, 0] == (g.n - 1) % 255
        assert cam.health().status == "ok"
        assert cam.health().fps > 10


def test_open_failures_back_off_exponentially_then_recover():
    g = FakeGrabber(open_failures=4)
    with make(g) as cam:
        assert wait_for(lambda: cam.health().status == "ok", 5.0)
        gaps = [b - a for a, b in zip(g.opens, g.opens[1:])]
        # 0.05, 0.1, 0.2, 0.2 (capped): each wait at least the schedule, doubling to the cap
        assert len(gaps) == 4
        assert gaps[0] >= 0.045 and gaps[1] >= 0.095 and gaps[2] >= 0.19 and gaps[3] >= 0.19
        assert gaps[3] < 0.5  # capped at reconnect_max_s
        assert cam.health().reconnects == 4


def test_lost_stream_is_a_fault_then_recovers():
    g = FakeGrabber(break_after=5)
    statuses = []
    with make(g, reconnect_initial_s=0.3) as cam:
        assert wait_for(lambda: cam.health().status == "fault", 3.0)
        h = cam.health()
        statuses.append(h.status)
        assert h.reason == "stream lost"
        assert wait_for(lambda: cam.health().status == "ok", 3.0)
        assert cam.health().reconnects == 1


def test_stall_is_reported_and_clears():
    g = FakeGrabber()
    with make(g) as cam:
        assert cam.wait_frame(2.0) is not None
        g.block.set()
        assert wait_for(lambda: cam.health().status == "fault", 2.0)
        assert "stalled" in cam.health().reason
        g.block.clear()
        assert wait_for(lambda: cam.health().status == "ok", 2.0)


def test_frames_are_resized_to_the_configured_size():
    g = FakeGrabber(frame_shape=(96, 128, 3))
    with make(g) as cam:
        frame, _ = cam.wait_frame(2.0)
        assert frame.shape == (48, 64, 3)


def test_unplugged_camera_is_a_fault_not_a_crash():
    cam = open_camera(Camera(source="/dev/video9", reconnect_initial_s=0.05, reconnect_max_s=0.1, stall_timeout_s=1))
    cam.start()
    try:
        assert wait_for(lambda: cam.health().status == "fault", 2.0)
        h = cam.health()
        assert "/dev/video9" in h.reason and "unplugged" in h.reason
        assert wait_for(lambda: cam.health().reconnects >= 3, 3.0)  # it keeps trying
        assert cam.latest() is None
    finally:
        cam.stop()
    assert cam.health().status == "stopped"


def test_video_file_plays_at_its_rate_and_loops(tmp_path):
    path = tmp_path / "clip.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 20, (160, 120))
    for i in range(6):
        w.write(np.full((120, 160, 3), i * 40, np.uint8))
    w.release()
    cam = open_camera(Camera(source=str(path), fps=20, width=160, height=120))
    with cam:
        assert wait_for(lambda: cam.health().frames >= 12, 3.0)  # 6-frame clip played twice: it loops
        assert cam.health().status == "ok"
        assert 10 < cam.health().fps < 30


def test_missing_video_file_is_a_fault():
    cam = open_camera(Camera(source="/nonexistent/clip.mp4", reconnect_initial_s=0.05))
    with cam:
        assert wait_for(lambda: cam.health().status == "fault", 2.0)
        assert "no such video file" in cam.health().reason


def test_sim_camera_renders_the_scenario():
    cam = open_camera(Camera(source="sim:bag_dropped_outside", fps=10, width=320, height=240))
    with cam:
        got = cam.wait_frame(5.0)
        assert got is not None and got[0].shape == (240, 320, 3)
        assert got[0].std() > 5  # a picture, not a blank frame


def test_unknown_sim_scenario_is_a_clear_fault():
    cam = open_camera(Camera(source="sim:no_such_scenario", reconnect_initial_s=0.05))
    with cam:
        assert wait_for(lambda: cam.health().status == "fault", 2.0)
        assert "no_such_scenario" in cam.health().reason


class FakePicamera2:
    """Stands in for picamera2.Picamera2: XBGR8888-like 4-channel frames at the configured size."""

    def __init__(self, number):
        self.number = number
        self.size = None

    def create_video_configuration(self, main, controls):
        return {"main": main, "controls": controls}

    def configure(self, cfg):
        self.size = cfg["main"]["size"]

    def start(self):
        pass

    def capture_array(self, stream):
        time.sleep(0.01)
        w, h = self.size
        return np.full((h, w, 4), 90, np.uint8)

    def stop(self):
        pass

    def close(self):
        pass


def test_picamera2_source_when_importable(monkeypatch):
    import types

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=FakePicamera2))
    cam = open_camera(Camera(source="picamera2", width=160, height=120))
    with cam:
        assert wait_for(lambda: cam.health().status == "ok", 3.0), cam.health()
        frame, _t = cam.latest()
    assert frame.shape == (120, 160, 3)  # the 4th (padding) channel is dropped


def test_picamera2_missing_is_a_clear_fault(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails as on a laptop
    cam = open_camera(Camera(source="picamera2:1", reconnect_initial_s=0.05, reconnect_max_s=0.1))
    with cam:
        assert wait_for(lambda: cam.health().status == "fault", 2.0)
        assert "picamera2 is not installed" in cam.health().reason
