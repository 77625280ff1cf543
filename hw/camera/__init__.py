"""Camera sources behind one interface.

    cam = open_camera(config.camera)   # anything with source, width, height, fps,
    cam.start()                         # reconnect_initial_s, reconnect_max_s, stall_timeout_s
    got = cam.latest()                  # (frame_bgr, t_monotonic) | None: only the newest frame
    h = cam.health()                    # CameraHealth: status ok|starting|fault|stopped, reason, fps, …
    cam.stop()

Sources (camera.source): `sim:SCENARIO` (the simulated room, rendered in real time at camera.fps),
a USB index (`0`) or `/dev/videoN`, an `rtsp://` / `http://` stream, a video file (played at its
own rate, looping), and `picamera2[:N]` (Raspberry Pi camera modules, when Picamera2 is installed).
For replay of a recorded clip as fast as the CPU allows, use `VideoClip(path).frames()`.
"""
from __future__ import annotations

from .base import CameraError, CameraHealth, SourceSpec, VideoError, parse_source, redact
from .source import CameraSource
from .video import VideoClip, iter_video

__all__ = ["CameraError", "CameraHealth", "CameraSource", "SourceSpec", "VideoClip", "VideoError",
           "iter_video", "make_grabber", "open_camera", "parse_source", "redact"]


def make_grabber(spec: SourceSpec, width: int, height: int, fps: float, timeout_s: float = 10.0, seed: int = 0):
    if spec.kind == "sim":
        from .sim_source import SimGrabber

        return SimGrabber(str(spec.target), width, height, fps, seed=seed)
    if spec.kind == "picamera2":
        from .picamera_source import Picamera2Grabber

        return Picamera2Grabber(int(spec.target), width, height, fps)
    from .opencv_source import OpenCVGrabber

    return OpenCVGrabber(spec, width, height, fps, timeout_s=timeout_s)


def open_camera(camera, seed: int = 0, clock=None) -> CameraSource:
    """A (not yet started) CameraSource for the `camera` config section."""
    spec = parse_source(camera.source)
    grabber = make_grabber(spec, camera.width, camera.height, camera.fps, timeout_s=camera.stall_timeout_s, seed=seed)
    kwargs = {} if clock is None else {"clock": clock}
    return CameraSource(grabber, spec.describe(), camera.width, camera.height, camera.fps,
                        camera.reconnect_initial_s, camera.reconnect_max_s, camera.stall_timeout_s, **kwargs)
