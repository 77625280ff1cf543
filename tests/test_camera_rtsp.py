"""A real RTSP stream (ffmpeg publishing a clip through a loopback relay) that dies mid-stream:
the camera reports a fault, keeps retrying with backoff, and recovers when the stream returns."""
from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from edge.config.vision import Camera
from hw.camera import open_camera

from rtsp_support import RtspRelay

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed"),
]


def wait_for(pred, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("rtsp") / "clip.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=320x240:rate=10", "-t", "4", "-c:v", "libx264", "-g", "5", "-bf", "0",
                    "-pix_fmt", "yuv420p", str(path)], check=True, timeout=60)
    return path


def publish(clip, url) -> subprocess.Popen:
    return subprocess.Popen(["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i",
                             str(clip), "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", url],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_rtsp_stream_dropped_and_restored(clip):
    relay = RtspRelay()
    pub = publish(clip, relay.url())
    cam = None
    try:
        assert wait_for(lambda: relay.sdp is not None, 10), "ffmpeg did not start publishing"
        cam = open_camera(Camera(source=relay.url(), fps=10, width=320, height=240,
                                 reconnect_initial_s=0.5, reconnect_max_s=2, stall_timeout_s=3))
        cam.start()
        assert wait_for(lambda: cam.health().status == "ok", 15), cam.health()
        frame, _t = cam.latest()
        assert frame.shape == (240, 320, 3)
        frames_before = cam.health().frames

        pub.kill()  # the stream dies mid-way
        pub.wait(10)
        assert wait_for(lambda: cam.health().status == "fault", 10), cam.health()
        assert cam.health().reason
        time.sleep(2.0)  # down a while: the camera keeps retrying, nothing crashes
        assert cam.health().status == "fault"

        pub = publish(clip, relay.url())  # the stream returns
        assert wait_for(lambda: cam.health().status == "ok", 20), cam.health()
        h = cam.health()
        assert h.reconnects >= 1 and h.frames > frames_before
    finally:
        if cam is not None:
            cam.stop()
        pub.kill()
        pub.wait(10)
        relay.close()
