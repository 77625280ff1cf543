#!/usr/bin/env python3
"""Voice latency: from "reminder due" (the policy is asked) to the player process started.

Pre-renders every prompt (as the agent does at start), then repeatedly: policy.decide() →
worker.say() → the worker's player (real `aplay`, by default on ALSA's `null` device so it
runs without a speaker) has been started. Also measures a prompt that was *not* pre-rendered
(rendered on demand), for comparison. Target: ≤ 1 s with pre-rendered prompts.

    python bench/bench_voice.py [--n 30] [--device null] [--player aplay]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.config import Config  # noqa: E402
from edge.voice import build_voice  # noqa: E402


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30, help="reminders to time")
    ap.add_argument("--player", default="aplay")
    ap.add_argument("--device", default="null", help="ALSA device for the player ('' = default)")
    ap.add_argument("--lang", default="zh", choices=["zh", "en"])
    a = ap.parse_args()

    cache = tempfile.mkdtemp(prefix="bench-voice-")
    cfg = Config.model_validate({
        "voice": {"player": a.player, "alsa_device": a.device or None, "quiet_hours": None, "lang": a.lang,
                  "cooldown_s": 60},
        "storage": {"cache_dir": cache},
        "schedule": {"opening_hours": []},
    })
    started = threading.Event()
    mark: dict[str, float] = {}

    def on_started(request, latency):
        mark["started"] = time.perf_counter()
        started.set()

    stack = build_voice(cfg, on_started=on_started)
    worker, policy = stack.worker, stack.policy
    worker.start()

    jobs = policy.render_jobs()
    t0 = time.perf_counter()
    worker.prerender(jobs).join(300)
    prerender_s = time.perf_counter() - t0
    print(f"pre-rendered {len(jobs)} prompt files ({len(set(j[0] for j in jobs))} prompts x "
          f"{len(policy.volumes())} volumes) in {prerender_s:.2f} s")

    def one(prompt: str, zone: str) -> float:
        started.clear()
        t = time.perf_counter()  # the reminder is due
        req = policy.decide(prompt, zone, None, time.time())
        assert req is not None, "policy refused"
        worker.say(req)
        if not started.wait(60):
            raise SystemExit(f"the player never started: {worker.health()}")
        latency = mark["started"] - t
        worker.wait_idle(60)
        return latency

    prompts = ["bag_on_floor", "bin_full", "odor_ventilation", "thank_you"]
    warm = [one(prompts[i % len(prompts)], f"zone-{i}") for i in range(a.n)]
    # not pre-rendered: a new text each time (site override) rendered on demand
    cold = []
    for i in range(3):
        policy.catalogue._prompts[f"adhoc_{i}"] = {a.lang: f"临时提示第{i + 1}条，请注意。" if a.lang == "zh"
                                                   else f"Temporary notice number {i + 1}."}
        cold.append(one(f"adhoc_{i}", "adhoc"))
    worker.stop()
    shutil.rmtree(cache, ignore_errors=True)
    h = worker.health()
    print(f"reminder due -> player started, pre-rendered (n={len(warm)}): "
          f"median {statistics.median(warm) * 1000:.1f} ms, p95 {pct(warm, 95) * 1000:.1f} ms, "
          f"max {max(warm) * 1000:.1f} ms")
    print(f"reminder due -> player started, rendered on demand (n={len(cold)}): "
          f"median {statistics.median(cold) * 1000:.0f} ms, max {max(cold) * 1000:.0f} ms")
    print(f"budget 1000 ms: worst pre-rendered case uses {max(warm) * 100:.1f} % of it; "
          f"on-demand rendering is {statistics.median(cold) / statistics.median(warm):.0f}x slower")
    print(f"player outcomes: played {h['played']}, failed {h['failed']}, last error {h['last_error']}")
    return 0 if max(warm) <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
