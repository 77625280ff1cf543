"""The simulated garbage room as a camera (`sim:SCENARIO`), from hw.sim."""
from __future__ import annotations

import threading
from typing import Iterator

import numpy as np

from .base import CameraError


def _load_room(scenario: str, width: int, height: int, seed: int):
    try:
        from ..sim import SimRoom, load_scenario
    except ImportError as e:
        raise CameraError(f"the simulated room is not available: {e}") from None
    try:
        sc = load_scenario(scenario)
    except Exception as e:  # unknown name, bad YAML: one clear line
        raise CameraError(f"cannot load sim scenario {scenario!r}: {e}") from None
    return SimRoom(sc, size=(width, height), seed=seed)


class SimGrabber:
    """Renders the scenario frame by frame; scenario time = frames / fps (the capture thread paces it
    at the camera fps, so it runs in real time). At the scenario's end it starts over."""

    paced = True

    def __init__(self, scenario: str, width: int, height: int, fps: float, seed: int = 0, loop: bool = True):
        self.scenario, self.width, self.height, self.fps, self.seed, self.loop = scenario, width, height, fps, seed, loop
        self.room = None
        self.index = 0
        self.last_truth: list = []

    def open(self) -> None:
        if self.room is None:
            self.room = _load_room(self.scenario, self.width, self.height, self.seed)

    def read(self) -> np.ndarray:
        if self.room is None:
            raise CameraError("sim camera not open")
        t = self.index / self.fps
        hang_at = getattr(getattr(self.room, "scenario", None), "camera_hang_s", None)
        if hang_at is not None and t >= hang_at:
            # the simulated driver hangs inside read(), as a wedged V4L2 or RTSP read does
            threading.Event().wait()
        dur = float(getattr(self.room, "duration_s", 0) or 0)
        if dur > 0 and t >= dur:
            if not self.loop:
                raise CameraError("sim scenario ended")
            self.index, t = 0, 0.0
        frame, self.last_truth = self.room.render(t)
        self.index += 1
        return frame

    def close(self) -> None:
        pass  # the room keeps its state: a reconnect continues the scenario


def iter_sim(scenario: str, fps: float, width: int = 640, height: int = 480, seed: int = 0,
             duration_s: float | None = None) -> Iterator[tuple[np.ndarray, float, list]]:
    """(frame, t, truth boxes) for t = 0, 1/fps, … up to the scenario's end (or duration_s), as fast as
    the CPU renders them: for replay and tests."""
    room = _load_room(scenario, width, height, seed)
    end = duration_s if duration_s is not None else float(room.duration_s)
    i = 0
    while True:
        t = i / fps
        if t >= end:
            return
        frame, truth = room.render(t)
        yield frame, t, truth
        i += 1
