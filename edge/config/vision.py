"""The camera, the detector, the zones drawn on the image and the bag rules."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Identifier, NonNegSeconds, Polygon, PosSeconds, Section


class Camera(Section):
    # "sim:SCENARIO" | USB index ("0") | "/dev/videoN" | "rtsp://…" / "http://…" | video file | "picamera2"
    source: str = "sim:bag_dropped_outside"
    fps: float = Field(10.0, gt=0, le=60)
    width: int = Field(640, ge=64, le=4096)
    height: int = Field(480, ge=64, le=4096)
    reconnect_initial_s: PosSeconds = 1.0
    reconnect_max_s: PosSeconds = 30.0
    stall_timeout_s: PosSeconds = 10.0  # no frame this long: camera_fault

    @field_validator("source")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name a camera source")
        return value


class Motion(Section):
    enabled: bool = True
    pixel_threshold: int = Field(25, ge=1, le=255)  # grey-level change that counts as motion
    min_area_frac: float = Field(0.002, gt=0, lt=1)  # changed share of the frame that wakes the detector
    recheck_s: PosSeconds = 5.0  # detector runs at least this often on a still scene
    downscale_width: int = Field(160, ge=32)
    background_tau_s: PosSeconds = 2.0  # the reference picture follows the scene this slowly
    max_detect_fps: float = Field(3.0, gt=0, le=60)  # detector runs at most this often while things move


class Vision(Section):
    backend: Literal["onnx", "ultralytics"] = "onnx"
    model: str = "models/garbage-yolo.onnx"
    imgsz: int = Field(320, ge=64, le=1280)
    conf: float = Field(0.4, gt=0, lt=1)
    iou: float = Field(0.5, gt=0, lt=1)
    threads: int = Field(2, ge=1, le=16)
    motion: Motion = Motion()

    @field_validator("imgsz")
    @classmethod
    def _stride(cls, value: int) -> int:
        if value % 32:
            raise ValueError(f"must be a multiple of 32, got {value}")
        return value


class BinZone(Section):
    id: Identifier
    polygon: Polygon


class Zones(Section):
    floor: Polygon = Field(default_factory=lambda: [(0, 260), (640, 260), (640, 480), (0, 480)])
    bins: list[BinZone] = Field(default_factory=list)  # ids unique: checked in schema.cross_check


class BagRule(Section):
    remind_after_s: NonNegSeconds = 3.0  # bag on the floor this long: voice reminder
    incident_after_s: NonNegSeconds = 60.0  # still there this long: platform incident
    clear_after_s: PosSeconds = 10.0  # gone this long: incident resolved
    min_conf: float = Field(0.4, gt=0, lt=1)
    same_place_px: float = Field(160.0, gt=0)  # bags this close (pixels) are one place: one incident with a count
    update_settle_s: NonNegSeconds = 3.0  # a changed bag count must hold this long before incident_update

    @model_validator(mode="after")
    def _order(self) -> "BagRule":
        if self.remind_after_s > self.incident_after_s:
            raise ValueError(
                f"remind_after_s ({self.remind_after_s:g}) must not exceed incident_after_s ({self.incident_after_s:g})"
            )
        return self


class Evidence(Section):
    jpeg_quality: int = Field(80, ge=10, le=100)
    max_width: int = Field(960, ge=160, le=4096)
    draw_zones: bool = True
