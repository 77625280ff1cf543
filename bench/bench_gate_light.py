#!/usr/bin/env python3
"""How often the motion gate wakes on light changes alone: the light-normalized small picture
(edge.vision.picture, what the gate uses) against plain grey, on the bundled scenario
`lighting_change_empty` (an empty room; the light falls to 35 %, returns, dims to 70 %).

    python bench/bench_gate_light.py
"""
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge.vision.motion import MotionGate  # noqa: E402
from hw.sim.room import SimRoom  # noqa: E402


def raw_small(frame, w=160):
    g = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (w, w * 3 // 4), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(g, (5, 5), 0)


room = SimRoom("lighting_change_empty", seed=1)
changes = [k[0] for k in room.scenario.lighting]
norm, raw = MotionGate(), MotionGate()
m_norm = m_raw = n = 0
for i in range(int(room.duration_s * 10)):
    t = i / 10
    f, _ = room.render(t)
    a = norm.check(f, t); b = raw.check(f, t, raw_small(f))
    near = any(0 <= t - c <= 5 for c in changes[1:])
    if near:
        n += 1; m_norm += a.reason in ("motion", "rate"); m_raw += b.reason in ("motion", "rate")
print("light keyframes", room.scenario.lighting)
print(f"frames within 5 s of a light change: {n}; gate saw motion: normalized {m_norm} ({100*m_norm/n:.0f} %), raw grey {m_raw} ({100*m_raw/n:.0f} %)")
print("detector runs whole clip: normalized", norm.runs, "raw", raw.runs, "of", norm.frames)
