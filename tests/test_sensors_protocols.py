"""Serial sensor protocols: datasheet vectors (checked against the formulas), resync, properties."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw.sensors.protocols import (
    ZE03_QA_REQUEST, ZE03_SET_ACTIVE_MODE, ZE03_SET_QA_MODE, A02yyParser, JsonLinesParser, Ze03Parser,
    a02yy_checksum, a02yy_frame, ze03_frame, ze03_qa_reply, ze_checksum,
)


def a02yy_sum(frame: bytes) -> int:
    return (0xFF + frame[1] + frame[2]) & 0xFF  # the datasheet formula, written out again


def winsen_sum(frame: bytes) -> int:
    return (~sum(frame[1:8]) + 1) & 0xFF


# --- datasheet vectors, each re-derived from its formula -------------------------------------

def test_a02yy_datasheet_vector():
    frame = bytes.fromhex("FF 07 A1 A7")
    assert a02yy_sum(frame) == frame[3]  # the vector itself is right
    assert a02yy_frame(1953) == frame
    [s] = A02yyParser().feed(frame)
    assert (s.quantity, s.value, s.raw) == ("distance_mm", 1953.0, "ff 07 a1 a7")


def test_ze03_datasheet_vector_co():
    frame = bytes.fromhex("FF 04 03 01 00 25 13 88 38")
    assert winsen_sum(frame) == 0x38
    assert ze_checksum(frame) == 0x38
    [s] = Ze03Parser().feed(frame)
    assert s.quantity == "co_ppm" and s.value == pytest.approx(3.7)
    assert ze03_frame("co", 3.7, decimals=1, unit=0x03, full_range=5000) == frame
    # the same frame as some public copies print it, SUM 0x25: fails the formula, so no reading
    wrong = frame[:8] + b"\x25"
    p = Ze03Parser()
    assert p.feed(wrong) == [] and p.stats()["garbled"] == 1


def test_ze03_commands_carry_valid_checksums():
    for cmd in (ZE03_QA_REQUEST, ZE03_SET_QA_MODE, ZE03_SET_ACTIVE_MODE):
        assert winsen_sum(cmd) == cmd[8], cmd.hex(" ")
    assert ZE03_QA_REQUEST == bytes.fromhex("FF 01 86 00 00 00 00 00 79")
    assert ZE03_SET_QA_MODE == bytes.fromhex("FF 01 78 41 00 00 00 00 46")


def test_ze03_qa_reply_uses_configured_gas_and_resolution():
    reply = ze03_qa_reply(12.5, decimals=1)
    assert reply[:4] == bytes.fromhex("FF 86 00 7D") and winsen_sum(reply) == reply[8]
    [s] = Ze03Parser(gas="nh3", qa_decimals=1).feed(reply)
    assert (s.quantity, s.value) == ("nh3_ppm", 12.5)
    [s] = Ze03Parser(gas="h2s", qa_decimals=2).feed(bytes.fromhex("FF 86 00 7D 00 00 00 00") + bytes([winsen_sum(b"\xff\x86\x00\x7d\0\0\0\0\0")]))
    assert (s.quantity, s.value) == ("h2s_ppm", 1.25)


def test_ze03_ppb_unit_and_mode_ack_are_handled():
    ppb = bytes.fromhex("FF 17 04 00 00 25 07 D0")  # ZE08-style CH2O in ppb, 37 ppb
    ppb += bytes([winsen_sum(ppb + b"\0")])
    [s] = Ze03Parser().feed(ppb)
    assert s.quantity == "ch2o_ppm" and s.value == pytest.approx(0.037)
    ack = bytes.fromhex("FF 78 01 00 00 00 00 00")
    ack += bytes([winsen_sum(ack + b"\0")])
    p = Ze03Parser()
    assert p.feed(ack) == [] and p.stats()["other"] == 1 and p.stats()["garbled"] == 0


# --- resync and counting -------------------------------------------------------------------

def test_a02yy_zero_is_no_echo_not_a_reading():
    p = A02yyParser()
    assert p.feed(a02yy_frame(0)) == []
    assert p.stats()["no_echo"] == 1 and p.stats()["garbled"] == 0


def test_a02yy_split_frames_and_garbage():
    stream = b"\x00\x12garbage" + a02yy_frame(1953) + b"\xff\x01" + a02yy_frame(250) + a02yy_frame(4500)
    p = A02yyParser()
    out = []
    for i in range(0, len(stream), 3):  # arrives in 3-byte pieces
        out += p.feed(stream[i:i + 3])
    assert [s.value for s in out] == [1953.0, 250.0, 4500.0]
    assert p.stats()["garbled"] >= 1  # the stray FF 01 failed its checksum


def test_a02yy_data_byte_ff_needs_one_byte_rescan():
    # 0xFF as the high byte: a parser that skipped a whole frame on a bad sum would lose this one
    good = a02yy_frame(0xFF * 256 + 0x10)
    assert good[1] == 0xFF
    stream = b"\xff" + good  # a lone start byte before it: first window FF FF FF 10 is garbled
    p = A02yyParser()
    out = p.feed(stream)
    assert [s.value for s in out] == [0xFF * 256 + 0x10]
    assert p.stats()["garbled"] == 1


def test_a02yy_bad_checksum_counts_and_is_dropped():
    bad = bytearray(a02yy_frame(1000))
    bad[3] ^= 0x01
    p = A02yyParser()
    assert [s.value for s in p.feed(bytes(bad) + a02yy_frame(1200))] == [1200.0]
    assert p.stats()["garbled"] == 1


def test_ze03_rescan_after_bad_frame_and_burst():
    good = [ze03_frame("nh3", v / 10, decimals=1, unit=0x02, full_range=100) for v in range(1, 51)]
    bad = bytearray(good[0])
    bad[5] ^= 0x10
    stream = bytes(bad) + b"\xff\xff" + b"".join(good)
    p = Ze03Parser()
    out = p.feed(stream)
    assert [round(s.value, 1) for s in out] == [v / 10 for v in range(1, 51)]
    assert p.stats()["garbled"] >= 1 and p.stats()["frames"] == 50


def test_jsonl_lines_ids_and_garbage():
    p = JsonLinesParser()
    data = (b'{"id": "bin-1", "distance_mm": 1234}\n{"id": "odor-1", "nh3_ppm": 3.1}\r\n'
            b'not json\n{"id": "x", "flag": true}\n[1,2]\n{"id": "bin-2", "distance_mm": 1e999}\n')
    out = p.feed(data[:20]) + p.feed(data[20:])
    assert [(s.source_id, s.quantity, s.value) for s in out] == [("bin-1", "distance_mm", 1234.0), ("odor-1", "nh3_ppm", 3.1)]
    assert p.stats()["frames"] == 2 and p.stats()["garbled"] == 4
    assert json.loads(out[0].raw)["distance_mm"] == 1234


def test_jsonl_endless_line_is_dropped():
    p = JsonLinesParser()
    assert p.feed(b"x" * 5000) == []
    assert p.stats()["garbled"] == 1
    assert [s.value for s in p.feed(b'\n{"id": "a", "distance_mm": 5}\n')] == [5.0]


# --- properties ----------------------------------------------------------------------------

chunks = st.lists(st.binary(max_size=64), max_size=40)


@settings(max_examples=200, deadline=None)
@given(chunks)
def test_random_bytes_never_raise(parts):
    for parser in (A02yyParser(), Ze03Parser(gas="nh3"), JsonLinesParser()):
        for part in parts:
            parser.feed(part)


@settings(max_examples=200, deadline=None)
@given(chunks)
def test_every_a02yy_reading_has_a_valid_checksum(parts):
    for s in A02yyParser().feed(b"".join(parts)):
        frame = bytes.fromhex(s.raw)
        assert len(frame) == 4 and frame[0] == 0xFF and a02yy_sum(frame) == frame[3]
        assert s.value == frame[1] * 256 + frame[2] != 0


@settings(max_examples=200, deadline=None)
@given(chunks)
def test_every_ze03_reading_has_a_valid_checksum(parts):
    for s in Ze03Parser(gas="nh3").feed(b"".join(parts)):
        frame = bytes.fromhex(s.raw)
        assert len(frame) == 9 and frame[0] == 0xFF and winsen_sum(frame) == frame[8]


frame_or_noise = st.one_of(
    st.integers(1, 0xFFFF).map(lambda v: ("good", v)),
    st.tuples(st.integers(0, 0xFFFF), st.integers(1, 255)).map(lambda t: ("bad", t)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(frame_or_noise, max_size=30), st.integers(1, 7))
def test_corrupted_frames_never_become_readings(items, step):
    stream = b""
    for kind, v in items:
        if kind == "good":
            stream += a02yy_frame(v)
        else:
            value, flip = v
            f = bytearray(a02yy_frame(value))
            f[3] ^= flip  # wrong checksum
            stream += bytes(f)
    p = A02yyParser()
    out = []
    for i in range(0, len(stream), step):
        out += p.feed(stream[i:i + step])
    for s in out:  # whatever came out was a real frame on the wire
        frame = bytes.fromhex(s.raw)
        assert a02yy_sum(frame) == frame[3]
        assert frame in stream
    if all(k == "good" for k, _ in items):  # a clean stream loses nothing
        assert [s.value for s in out] == [float(v) for _, v in items]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["nh3", "h2s", "co"]), st.integers(0, 0xFFFF), st.integers(0, 3)), max_size=20),
       st.integers(1, 11))
def test_ze03_clean_streams_decode_exactly(items, step):
    stream = b"".join(ze03_frame(g, raw / 10**d, decimals=d) for g, raw, d in items)
    p = Ze03Parser()
    out = []
    for i in range(0, len(stream), step):
        out += p.feed(stream[i:i + step])
    assert [(s.quantity, s.value) for s in out] == [(f"{g}_ppm", raw / 10**d) for g, raw, d in items]
    assert p.stats()["garbled"] == 0


def test_checksum_helpers_match_formulas():
    for h in range(0, 256, 17):
        for l in range(0, 256, 13):
            assert a02yy_checksum(h, l) == (0xFF + h + l) & 0xFF
