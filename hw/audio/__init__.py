"""Audio output: text-to-speech rendering (pyttsx3 / espeak-ng) and WAV playback (aplay)."""
from .player import AplayPlayer, Player, PlayResult, SimPlayer
from .tts import Rendered, Renderer, RenderError, cache_key, tts_available

__all__ = ["AplayPlayer", "Player", "PlayResult", "SimPlayer", "Rendered", "Renderer", "RenderError",
           "cache_key", "tts_available"]
