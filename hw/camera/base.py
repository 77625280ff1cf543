"""What every camera source shares: the source string, errors, health, and the grabber protocol."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Protocol

import numpy as np

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


def quiet_opencv() -> None:
    """OpenCV's own warnings ("can't open camera by index") only repeat our clearer messages."""
    try:
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except (ImportError, AttributeError):  # builds without cv2.utils.logging
        pass


class CameraError(Exception):
    """A camera that cannot be opened or read, with a message for maintenance staff."""


class VideoError(CameraError):
    """A recorded clip that cannot be read (missing, not a video, truncated or corrupt)."""


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # "sim" | "device" | "stream" | "file" | "picamera2"
    target: str | int  # scenario name, device index or path, URL, file path, camera number

    def describe(self) -> str:
        return redact(str(self.target)) if self.kind == "stream" else f"{self.kind}:{self.target}"


def parse_source(source: str) -> SourceSpec:
    """`sim:SCENARIO`, a USB index (`0`), `/dev/videoN`, a stream URL, `picamera2[:N]`, else a video file."""
    s = source.strip()
    if s.startswith("sim:"):
        return SourceSpec("sim", s[4:])
    if s == "picamera2" or s.startswith("picamera2:"):
        num = s.partition(":")[2]
        return SourceSpec("picamera2", int(num) if num.isdigit() else 0)
    if s.isdigit():
        return SourceSpec("device", int(s))
    if s.startswith("/dev/"):
        return SourceSpec("device", s)
    if s.lower().startswith(STREAM_SCHEMES):
        return SourceSpec("stream", s)
    return SourceSpec("file", os.path.expanduser(s))


_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<password>[^\s]*)@")
_SECRET_QUERY = re.compile(r"(?i)([?&](?:password|passwd|pwd|pass|token|auth)=)[^&#\s]*")


def redact(text: str) -> str:
    """Text without the passwords of the URLs in it (RTSP URLs carry user:password@; some HTTP
    snapshot URLs ?password=). The password ends at the last @ of the URL: cameras' passwords
    often hold a raw @ or /, which a stricter URL parser would leave half shown."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _SECRET_QUERY.sub(r"\1***", text)


@dataclass(frozen=True)
class CameraHealth:
    """status: "starting" (no frame yet), "ok", "fault" (open/read failed or stalled), "stopped"."""

    status: str
    source: str
    reason: str | None = None
    fps: float = 0.0  # measured frames per second delivered by the source
    frames: int = 0
    reconnects: int = 0
    last_frame_age_s: float | None = None
    size: tuple[int, int] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict:
        return {"status": self.status, "source": self.source, "reason": self.reason, "fps": round(self.fps, 2),
                "frames": self.frames, "reconnects": self.reconnects,
                "last_frame_age_s": None if self.last_frame_age_s is None else round(self.last_frame_age_s, 2),
                "size": list(self.size) if self.size else None}


class Grabber(Protocol):
    """One connection to a source. open() and read() raise CameraError; close() never raises.

    `paced` grabbers (files, the simulated room) return frames as fast as asked, so the capture
    thread paces them at the camera fps; live sources block in read() until the next frame."""

    paced: bool

    def open(self) -> None: ...

    def read(self) -> np.ndarray: ...

    def close(self) -> None: ...
