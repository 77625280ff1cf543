"""Assemble the voice parts from the config: policy, renderer, player, worker.

    stack = build_voice(config)          # nothing started yet
    stack.worker.start()
    stack.worker.prerender(stack.policy.render_jobs())
    stack.worker.say(stack.policy.decide("bag_on_floor", "floor", track_id, time.time()))

On a config change the agent is rebuilt; `policy.memory()` / `recall()` carry cooldowns and counts over.
"""
from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hw.audio import AplayPlayer, Renderer, SimPlayer

from .policy import VoicePolicy
from .prompts import PromptCatalogue
from .worker import VoiceWorker

log = logging.getLogger(__name__)


def voice_cache_dir(config) -> Path:
    """`storage.cache_dir`/voice, or a per-user cache when that is not writable (a laptop, the CLI)."""
    candidates = [Path(config.storage.cache_dir).expanduser() / "voice"]
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    candidates.append(Path(xdg) / "garbage-edge" / "voice")
    candidates.append(Path(tempfile.gettempdir()) / f"garbage-edge-{os.getuid()}" / "voice")
    for c in candidates:
        try:
            c.mkdir(parents=True, exist_ok=True)
            if os.access(c, os.W_OK):
                if c != candidates[0]:
                    log.info("voice cache: %s is not writable, using %s", candidates[0], c)
                return c
        except OSError:
            continue
    return candidates[-1]


def make_renderer(config) -> Renderer:
    return Renderer(voice_cache_dir(config), timeout_s=config.voice.render_timeout_s)


def make_player(config) -> AplayPlayer | SimPlayer:
    """`voice.player: sim` is the simulated speaker (demo, laptop); anything else is a command."""
    if config.voice.player.strip() == "sim":
        return SimPlayer()
    return AplayPlayer(config.voice.player, config.voice.alsa_device)


@dataclass
class VoiceStack:
    policy: VoicePolicy
    worker: VoiceWorker
    renderer: Renderer


def build_voice(config, player=None, renderer=None, on_started=None) -> VoiceStack:
    renderer = renderer or make_renderer(config)
    policy = VoicePolicy(config, PromptCatalogue.from_config(config))
    worker = VoiceWorker(
        renderer, player or make_player(config),
        play_timeout_s=config.voice.play_timeout_s, queue_size=config.voice.queue_size,
        max_delay_s=config.voice.max_delay_s, on_started=on_started,
    )
    return VoiceStack(policy, worker, renderer)
