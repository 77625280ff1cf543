"""Pure wire-protocol parsers and frame builders for the room's serial sensors.

No IO here: a parser is fed whatever bytes arrived (any split, any garbage) and returns
the samples it could decode. Parsers never raise on input; bad bytes are counted.

- Ultrasonic UART (DYP-A01/A02YY, DFRobot SEN0311, JSN-SR04T mode 2/3): `FF H L SUM`,
  distance_mm = H*256 + L, SUM = (0xFF + H + L) & 0xFF. 0 mm means "no echo": no sample.
- Winsen ZE03/ZE07 electrochemical gas modules: 9-byte frames starting 0xFF with
  SUM = (~(B1+..+B7) + 1) & 0xFF. Active upload `FF gas unit decimals cH cL rH rL SUM`;
  Q&A reply `FF 86 cH cL .. .. .. .. SUM` (no decimals byte: the caller says how many).
- JSON lines from a microcontroller co-processor: `{"id": "bin-1", "distance_mm": 1234}`.

On a checksum failure the parser drops ONE byte and rescans, because data bytes may equal
the 0xFF start byte; every such failure counts as one garbled frame.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

START = 0xFF
MAX_BUFFER = 4096  # bytes kept while waiting for the rest of a frame; more is garbage

A02YY_TRIGGER = b"\x55"  # triggered ("controlled") mode: one frame per request byte
ZE03_QA_REQUEST = bytes.fromhex("FF 01 86 00 00 00 00 00 79")
ZE03_SET_QA_MODE = bytes.fromhex("FF 01 78 41 00 00 00 00 46")
ZE03_SET_ACTIVE_MODE = bytes.fromhex("FF 01 78 40 00 00 00 00 47")
ZE03_QA_REPLY = 0x86

# Winsen gas-name byte of the active-upload frame
ZE_GAS_CODES: dict[int, str] = {
    0x02: "nh3", 0x03: "h2s", 0x04: "co", 0x05: "o2", 0x06: "h2", 0x17: "ch2o",
    0x2A: "o3", 0x2B: "so2", 0x2C: "no2", 0x31: "cl2", 0x33: "hf",
}
ZE_GAS_BY_NAME = {v: k for k, v in ZE_GAS_CODES.items()}
# Winsen unit byte -> factor to ppm (ZE07/ZE03 send 0x03 = ppm; ZE08 uses 0x04 = ppb)
ZE_UNITS: dict[int, float] = {0x02: 1.0, 0x03: 1.0, 0x04: 0.001}


@dataclass(frozen=True, slots=True)
class Sample:
    """One decoded value. `quantity` names it with its unit, e.g. distance_mm, nh3_ppm."""

    quantity: str
    value: float
    raw: str  # the frame as hex, or the JSON line: what the wire said
    source_id: str | None = None  # jsonl: the co-processor's "id"


def a02yy_checksum(h: int, l: int) -> int:
    return (START + h + l) & 0xFF


def a02yy_frame(distance_mm: int) -> bytes:
    h, l = divmod(int(distance_mm) & 0xFFFF, 256)
    return bytes((START, h, l, a02yy_checksum(h, l)))


def ze_checksum(frame: bytes | bytearray) -> int:
    """Winsen checksum over bytes 1..7 of a 9-byte frame."""
    return (~sum(frame[1:8]) + 1) & 0xFF


def ze03_frame(gas: str | int, value: float, decimals: int = 1, unit: int = 0x03, full_range: int = 5000) -> bytes:
    """An active-upload frame carrying `value` (in the unit of `unit`) with `decimals` decimals."""
    code = gas if isinstance(gas, int) else ZE_GAS_BY_NAME[gas]
    raw = int(round(value * 10**decimals)) & 0xFFFF
    body = bytes((START, code, unit, decimals, raw >> 8, raw & 0xFF, (full_range >> 8) & 0xFF, full_range & 0xFF))
    return body + bytes((ze_checksum(body + b"\0"),))


def ze03_qa_reply(value: float, decimals: int = 1) -> bytes:
    """The Q&A answer `FF 86 cH cL 00 00 00 00 SUM` for `value` at `decimals` resolution."""
    raw = int(round(value * 10**decimals)) & 0xFFFF
    body = bytes((START, ZE03_QA_REPLY, raw >> 8, raw & 0xFF, 0, 0, 0, 0))
    return body + bytes((ze_checksum(body + b"\0"),))


class _Stats:
    def __init__(self) -> None:
        self.frames = 0  # valid frames decoded (including no-echo and non-reading frames)
        self.garbled = 0  # checksum failures / undecodable lines
        self.skipped_bytes = 0  # bytes dropped while hunting for a start byte

    def stats(self) -> dict[str, int]:
        return {"frames": self.frames, "garbled": self.garbled, "skipped_bytes": self.skipped_bytes}


class A02yyParser(_Stats):
    """`FF H L SUM` ultrasonic frames -> distance_mm samples (0 = no echo, not a sample)."""

    FRAME = 4

    def __init__(self) -> None:
        super().__init__()
        self._buf = bytearray()
        self.no_echo = 0

    def stats(self) -> dict[str, int]:
        return {**super().stats(), "no_echo": self.no_echo}

    def feed(self, data: bytes) -> list[Sample]:
        buf = self._buf
        buf += data
        out: list[Sample] = []
        i, n = 0, len(buf)
        while n - i >= 4:
            if buf[i] != START:
                j = buf.find(b"\xff", i)
                if j < 0:
                    self.skipped_bytes += n - i
                    i = n
                    break
                self.skipped_bytes += j - i
                i = j
                continue
            h, l, s = buf[i + 1], buf[i + 2], buf[i + 3]
            if (START + h + l) & 0xFF != s:
                self.garbled += 1
                i += 1  # a data byte may be 0xFF: rescan from the next byte
                continue
            self.frames += 1
            mm = h * 256 + l
            if mm == 0:
                self.no_echo += 1
            else:
                out.append(Sample("distance_mm", float(mm), bytes(buf[i:i + 4]).hex(" ")))
            i += 4
        del buf[:i]
        if len(buf) > MAX_BUFFER:  # cannot happen with 4-byte frames; kept for symmetry
            self.skipped_bytes += len(buf) - 3
            del buf[:-3]
        return out


class Ze03Parser(_Stats):
    """Winsen ZE03/ZE07 9-byte frames, active upload and Q&A replies, -> `<gas>_ppm` samples.

    `gas` names Q&A readings (the reply carries no gas byte); `qa_decimals` is the module's
    resolution in Q&A mode (the reply carries no decimals byte either).
    """

    FRAME = 9

    def __init__(self, gas: str | None = None, qa_decimals: int = 1) -> None:
        super().__init__()
        self._buf = bytearray()
        self.gas = gas
        self.qa_decimals = qa_decimals
        self.other = 0  # valid frames that carry no reading (command acknowledgements)

    def stats(self) -> dict[str, int]:
        return {**super().stats(), "other": self.other}

    def feed(self, data: bytes) -> list[Sample]:
        buf = self._buf
        buf += data
        out: list[Sample] = []
        i, n = 0, len(buf)
        while n - i >= 9:
            if buf[i] != START:
                j = buf.find(b"\xff", i)
                if j < 0:
                    self.skipped_bytes += n - i
                    i = n
                    break
                self.skipped_bytes += j - i
                i = j
                continue
            b1, b2, b3, b4, b5, b6, b7, s = buf[i + 1:i + 9]
            if (-(b1 + b2 + b3 + b4 + b5 + b6 + b7)) & 0xFF != s:
                self.garbled += 1
                i += 1
                continue
            self.frames += 1
            raw = bytes(buf[i:i + 9]).hex(" ")
            i += 9
            if b1 == ZE03_QA_REPLY:
                name = self.gas or "gas"
                value = (b2 * 256 + b3) / 10**self.qa_decimals
                out.append(Sample(f"{name}_ppm", value, raw))
            elif b1 in ZE_GAS_CODES or (b1 != 0x78 and b2 in ZE_UNITS):
                factor = ZE_UNITS.get(b2)
                if factor is None or b3 > 6:
                    self.other += 1
                    continue
                name = ZE_GAS_CODES.get(b1, f"gas{b1:02x}")
                out.append(Sample(f"{name}_ppm", (b4 * 256 + b5) / 10**b3 * factor, raw))
            else:
                self.other += 1  # e.g. the acknowledgement of a mode switch
        del buf[:i]
        return out


class JsonLinesParser(_Stats):
    """One JSON object per line; every numeric field except `id` becomes a sample.

    `{"id": "bin-1", "distance_mm": 1234}` -> Sample("distance_mm", 1234.0, source_id="bin-1").
    """

    MAX_LINE = 4096

    def __init__(self) -> None:
        super().__init__()
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Sample]:
        self._buf += data
        out: list[Sample] = []
        while True:
            j = self._buf.find(b"\n")
            if j < 0:
                if len(self._buf) > self.MAX_LINE:  # a line that never ends is garbage
                    self.garbled += 1
                    self.skipped_bytes += len(self._buf)
                    self._buf.clear()
                break
            line = bytes(self._buf[:j]).strip()
            del self._buf[:j + 1]
            if line:
                out.extend(self._line(line))
        return out

    def _line(self, line: bytes) -> list[Sample]:
        try:
            text = line.decode("utf-8")
            obj = json.loads(text)
        except (UnicodeDecodeError, ValueError, RecursionError):
            self.garbled += 1
            return []
        if not isinstance(obj, dict):
            self.garbled += 1
            return []
        sid = obj.get("id")
        sid = str(sid) if sid is not None else None
        samples = []
        for k, v in obj.items():
            if k == "id" or isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            try:
                f = float(v)
            except OverflowError:  # an integer too large for a float
                continue
            if math.isfinite(f):
                samples.append(Sample(str(k), f, text, sid))
        if samples:
            self.frames += 1
        else:
            self.garbled += 1
        return samples


def make_parser(protocol: str, **kwargs) -> A02yyParser | Ze03Parser | JsonLinesParser:
    if protocol in ("a02yy", "a02yy-triggered"):
        return A02yyParser()
    if protocol == "ze03":
        return Ze03Parser(**kwargs)
    if protocol == "jsonl":
        return JsonLinesParser()
    raise ValueError(f"unknown serial protocol {protocol!r}")
