"""The stamp every evidence picture carries, so a picture on its own says when and where it was
taken: the local time, the device id, the point id and the incident id, burnt into the bottom-left
corner (light text on a dark box: legible on any background) and written into its EXIF
(DateTimeOriginal + OffsetTimeOriginal, ImageDescription and UserComment).

    stamp = Stamp(taken_at=time.time(), tz=ZoneInfo("Asia/Shanghai"), device_id="hk-jxl-piaoying-03",
                  point_id="HK-JXL-0317", incident_id=doc_id)
    jpeg = stamp_jpeg(jpeg, stamp, quality=80)

The incident id is known only once the incident book has opened (or found) the incident, so the
runtime stamps the picture there, just before it stores it; the vision pipeline makes the
picture without a stamp. The EXIF block is written here by hand (a few fixed tags), no library.
"""
from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass

import cv2
import numpy as np

SOFTWARE = "garbage-edge"
TEXT_COLOUR = (255, 255, 255)  # BGR
BOX_COLOUR = (0, 0, 0)
BOX_ALPHA = 0.7  # the dark box lets a little of the scene show through, never enough to hide the text


@dataclass(frozen=True)
class Stamp:
    taken_at: float  # epoch seconds
    tz: dt.tzinfo
    device_id: str
    point_id: str
    incident_id: str | None

    def local_time(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.taken_at, self.tz)

    def offset(self) -> str:
        """The UTC offset as EXIF writes it: +08:00."""
        text = self.local_time().strftime("%z") or "+0000"
        return f"{text[:3]}:{text[3:5]}"

    def lines(self) -> list[str]:
        """The corner label. ASCII only: OpenCV's fonts have no Chinese glyphs (ids are ASCII)."""
        t = self.local_time()
        out = [f"{t:%Y-%m-%d %H:%M:%S} {self.offset()}",
               f"device {_ascii(self.device_id)}  point {_ascii(self.point_id) or '-'}"]
        if self.incident_id:
            out.append(f"incident {_ascii(self.incident_id)}")
        return out

    def description(self) -> str:
        """ImageDescription / UserComment: key=value pairs a program can read back."""
        parts = [f"device_id={self.device_id}", f"point_id={self.point_id}"]
        if self.incident_id:
            parts.append(f"incident_id={self.incident_id}")
        parts.append(f"local_time={self.local_time().isoformat(timespec='seconds')}")
        return " ".join(parts)


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def draw_stamp(img: np.ndarray, stamp: Stamp) -> np.ndarray:
    """Burn the stamp into the bottom-left corner of `img` (in place); returns it."""
    h, w = img.shape[:2]
    scale = max(0.35, min(1.2, w / 1400))
    thickness = 1 if scale < 0.7 else 2
    font = cv2.FONT_HERSHEY_SIMPLEX
    lines = stamp.lines()
    sizes = [cv2.getTextSize(line, font, scale, thickness)[0] for line in lines]
    line_h = max(s[1] for s in sizes) + int(10 * scale) + 2
    pad = max(3, int(6 * scale))
    box_w = min(w, max(s[0] for s in sizes) + 2 * pad)
    box_h = min(h, line_h * len(lines) + pad)
    y0 = h - box_h
    region = img[y0:h, 0:box_w]
    dark = np.full_like(region, BOX_COLOUR)
    cv2.addWeighted(dark, BOX_ALPHA, region, 1 - BOX_ALPHA, 0, dst=region)
    for i, line in enumerate(lines):
        baseline_y = y0 + pad + line_h * i + sizes[i][1]
        cv2.putText(img, line, (pad, baseline_y), font, scale, TEXT_COLOUR, thickness, cv2.LINE_AA)
    return img


def stamp_jpeg(jpeg: bytes, stamp: Stamp, quality: int = 80) -> bytes:
    """The evidence JPEG with the stamp in its corner and its EXIF (re-encoded once)."""
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("not a decodable JPEG")
    draw_stamp(img, stamp)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return with_exif(buf.tobytes(), stamp)


# --- EXIF, by hand --------------------------------------------------------------------------
# An APP1 segment "Exif\0\0" + a big-endian TIFF header, IFD0 (ImageDescription, Software,
# DateTime, the pointer to the Exif IFD) and the Exif IFD (DateTimeOriginal, OffsetTimeOriginal,
# UserComment), right after the JPEG's SOI marker.

ASCII, SHORT, LONG, UNDEFINED = 2, 3, 4, 7
TAG_IMAGE_DESCRIPTION, TAG_SOFTWARE, TAG_DATETIME, TAG_EXIF_IFD = 0x010E, 0x0131, 0x0132, 0x8769
TAG_EXIF_VERSION, TAG_DATETIME_ORIGINAL, TAG_OFFSET_TIME_ORIGINAL, TAG_USER_COMMENT = 0x9000, 0x9003, 0x9011, 0x9286


def _ifd(entries: list[tuple[int, int, bytes]], offset: int, next_ifd: int = 0) -> bytes:
    """One IFD at TIFF offset `offset`: entries (tag, type, value bytes) sorted by tag, values
    longer than 4 bytes stored after the IFD."""
    entries = sorted(entries)
    head = struct.pack(">H", len(entries))
    data_at = offset + 2 + 12 * len(entries) + 4
    body, data = b"", b""
    for tag, typ, value in entries:
        count = len(value) if typ in (ASCII, UNDEFINED) else len(value) // {SHORT: 2, LONG: 4}[typ]
        if len(value) <= 4:
            body += struct.pack(">HHI", tag, typ, count) + value.ljust(4, b"\0")
        else:
            body += struct.pack(">HHII", tag, typ, count, data_at + len(data))
            data += value + (b"\0" if len(value) % 2 else b"")  # values start on even offsets
    return head + body + struct.pack(">I", next_ifd) + data


def exif_segment(stamp: Stamp) -> bytes:
    t = stamp.local_time()
    when = f"{t:%Y:%m:%d %H:%M:%S}".encode() + b"\0"
    description = stamp.description().encode("utf-8") + b"\0"
    # UserComment: 8 bytes naming the character code, then the text (UTF-16 in the TIFF's byte order)
    comment = b"UNICODE\0" + stamp.description().encode("utf-16-be")
    ifd0_entries = [(TAG_IMAGE_DESCRIPTION, ASCII, description), (TAG_SOFTWARE, ASCII, SOFTWARE.encode() + b"\0"),
                    (TAG_DATETIME, ASCII, when), (TAG_EXIF_IFD, LONG, b"\0\0\0\0")]
    ifd0_len = len(_ifd(ifd0_entries, 8))
    exif_at = 8 + ifd0_len
    ifd0_entries[-1] = (TAG_EXIF_IFD, LONG, struct.pack(">I", exif_at))
    ifd0 = _ifd(ifd0_entries, 8)
    exif_ifd = _ifd([(TAG_EXIF_VERSION, UNDEFINED, b"0231"), (TAG_DATETIME_ORIGINAL, ASCII, when),
                     (TAG_OFFSET_TIME_ORIGINAL, ASCII, stamp.offset().encode() + b"\0"),
                     (TAG_USER_COMMENT, UNDEFINED, comment)], exif_at)
    tiff = b"MM\0\x2a" + struct.pack(">I", 8) + ifd0 + exif_ifd
    payload = b"Exif\0\0" + tiff
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("EXIF block too large")
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def with_exif(jpeg: bytes, stamp: Stamp) -> bytes:
    """`jpeg` with the stamp's EXIF segment right after SOI (any EXIF it had is replaced)."""
    if not jpeg.startswith(b"\xff\xd8"):
        raise ValueError("not a JPEG (no SOI marker)")
    rest = jpeg[2:]
    out = b""
    # drop an existing EXIF APP1 among the leading APPn segments
    while len(rest) >= 4 and rest[0] == 0xFF and 0xE0 <= rest[1] <= 0xEF:
        size = struct.unpack(">H", rest[2:4])[0]
        segment, rest = rest[:2 + size], rest[2 + size:]
        if not (segment[1] == 0xE1 and segment[4:10] == b"Exif\0\0"):
            out += segment
    return b"\xff\xd8" + exif_segment(stamp) + out + rest
