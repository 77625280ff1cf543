"""The camera, the detector, the zones drawn on the image and the bag rules."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..contract import WASTE_TYPES
from ..i18n import _
from .base import Identifier, NonNegSeconds, Polygon, PosSeconds, Section, seconds


class Camera(Section):
    # "sim:SCENARIO" | USB index ("0") | "/dev/videoN" | "rtsp://…" / "http://…" | video file | "picamera2"
    source: str = "sim:bag_dropped_outside"
    fps: float = Field(10.0, gt=0, le=60)
    width: int = Field(640, ge=64, le=4096)
    height: int = Field(480, ge=64, le=4096)
    reconnect_initial_s: float = seconds(1.0, high=3600)
    reconnect_max_s: float = seconds(30.0, high=3600)
    stall_timeout_s: float = seconds(10.0, high=3600)  # no frame this long: camera_fault

    @field_validator("source", mode="before")
    @classmethod
    def _usb_index(cls, value: object) -> object:
        # `source: 0` is USB camera 0, written as the docs write it (YAML reads it as a number)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return str(value)
        return value

    @field_validator("source")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(_("must name a camera source"))
        return value


class Motion(Section):
    enabled: bool = True
    pixel_threshold: int = Field(25, ge=1, le=255)  # grey-level change that counts as motion
    min_area_frac: float = Field(0.002, gt=0, lt=1)  # changed share of the frame that wakes the detector
    recheck_s: float = seconds(5.0, high=3600)  # detector runs at least this often on a still scene
    downscale_width: int = Field(160, ge=32, le=1920)
    background_tau_s: float = seconds(2.0, high=3600)  # the reference picture follows the scene this slowly
    max_detect_fps: float = Field(3.0, gt=0, le=60)  # detector runs at most this often while things move


class Static(Section):
    # enabled: static objects no box names are reported too (seen_by static) and confirm the
    # detector's bags (seen_by both); confirm-only: they only confirm; off: the finder does not run
    mode: Literal["enabled", "confirm-only", "off"] = "enabled"
    fps: float = Field(2.0, gt=0, le=30)  # the finder looks this many times a second
    diff_threshold: float = Field(20.0, ge=1, le=255)  # normalized grey-level difference from the empty room that counts
    edge_threshold: float = Field(10.0, ge=1, le=255)  # local-contrast (gradient) difference that counts
    fast_tau_s: PosSeconds = 1.0  # the "recent" picture follows the scene this fast: what matches it stopped moving
    slow_tau_s: PosSeconds = 30.0  # the empty room's picture learns slow drift (only where nothing new is) this slowly
    confirm_s: PosSeconds = 4.0  # new and still this long before it is an object
    grace_s: NonNegSeconds = 3.0  # a found object's pixels may be covered (someone walking past) this long
    min_area_frac: float = Field(0.002, gt=0, lt=1)  # objects smaller than this share of the frame are ignored
    absorb_after_s: PosSeconds = 21600.0  # an object unchanged this long becomes part of the room


class Verifier(Section):
    # the crop classifier that looks again at each detected bag (docs/detector.md); "" turns it off
    model: str = "models/bag-verifier-int8.onnx"  # the float file: models/bag-verifier.onnx
    weight: float = Field(0.3, ge=0, lt=1)  # its share of a bag's score: conf ** (1 - weight) * p ** weight


class Vision(Section):
    backend: Literal["onnx", "ultralytics"] = "onnx"
    model: str = "models/garbage-yolo-int8.onnx"  # the float file: models/garbage-yolo.onnx (docs/detector.md)
    imgsz: int = Field(416, ge=64, le=1280)  # the shipped model is trained at 416
    conf: float = Field(0.4, gt=0, lt=1)
    iou: float = Field(0.5, gt=0, lt=1)
    threads: int = Field(2, ge=1, le=16)
    verifier: Verifier = Verifier()
    motion: Motion = Motion()
    static: Static = Static()
    # OpenCV's own worker threads (cv2.setNumThreads), set on purpose: 1 keeps the small-picture
    # work on the vision loop's own core, so that it never competes with the detector's `threads`
    # for the other cores (a pool buys no wall time on a 160-pixel picture); -1: OpenCV's default
    # pool (a thread per core)
    opencv_threads: int = Field(1, ge=-1, le=16)

    @field_validator("imgsz")
    @classmethod
    def _stride(cls, value: int) -> int:
        if value % 32:
            raise ValueError(_("must be a multiple of 32, got {value}").format(value=value))
        return value


class BinZone(Section):
    id: Identifier
    polygon: Polygon
    waste_type: Literal[WASTE_TYPES] = "dry"  # type: ignore[valid-type]  # wet | dry | recyclable | hazardous
    capacity_l: float = Field(240.0, gt=0, le=10_000)  # litres from empty_mm to full_mm (240 L: the usual wheelie bin)


class Zones(Section):
    floor: Polygon = Field(default_factory=lambda: [(0, 260), (640, 260), (640, 480), (0, 480)])
    bins: list[BinZone] = Field(default_factory=list)  # ids unique: checked in schema.cross_check


class BagRule(Section):
    remind_after_s: NonNegSeconds = 3.0  # bag on the floor this long: voice reminder
    incident_after_s: NonNegSeconds = 60.0  # still there this long: platform incident
    clear_after_s: PosSeconds = 10.0  # gone this long: incident resolved
    min_conf: float = Field(0.4, gt=0, lt=1)
    same_place_px: float = Field(160.0, gt=0, le=10_000)  # bags this close (pixels) are one place: one incident with a count
    update_settle_s: NonNegSeconds = 3.0  # a changed bag count must hold this long before incident_update

    @model_validator(mode="after")
    def _order(self) -> "BagRule":
        if self.remind_after_s > self.incident_after_s:
            raise ValueError(_("remind_after_s ({remind:g}) must not exceed incident_after_s ({incident:g})").format(
                remind=self.remind_after_s, incident=self.incident_after_s))
        return self


class Evidence(Section):
    jpeg_quality: int = Field(80, ge=10, le=100)
    max_width: int = Field(960, ge=160, le=4096)
    draw_zones: bool = True
