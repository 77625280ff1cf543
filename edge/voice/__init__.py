"""Voice reminders: the prompt catalogue, the pure policy (when, what, how loud) and the worker
thread that renders and plays them. See docs/voice.md."""
from .build import VoiceStack, build_voice, voice_cache_dir
from .policy import Decision, PlayRequest, VoicePolicy
from .prompts import LANGS, PromptCatalogue, UnknownPrompt
from .worker import VoiceWorker

__all__ = ["Decision", "LANGS", "PlayRequest", "PromptCatalogue", "UnknownPrompt", "VoicePolicy", "VoiceStack",
           "VoiceWorker", "build_voice", "voice_cache_dir"]
