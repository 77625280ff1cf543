"""`gedge speak`: say a prompt or any text through the room's speaker, or write it to a WAV file.

Maintenance command: it ignores quiet hours and cooldowns (the policy is for residents),
but uses the configured voice, rate, player and device, and the volume in force now
(or --volume).
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from ..config import ConfigError, load_config
from ..i18n import _
from . import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, config_arg, print_problems


def register(sub, common) -> None:
    p = sub.add_parser("speak", parents=[common], help=_("say a prompt or text on the speaker (or write a WAV)"),
                       description=_("Say TEXT or the prompt NAME on the room's speaker, or write it to a WAV file."))
    p.add_argument("text", nargs="?", help=_("what to say (or use --prompt)"))
    p.add_argument("--prompt", metavar="NAME", help=_("a prompt from the catalogue (see --list)"))
    # the global --lang (messages) also picks the spoken language unless --voice-lang is given
    p.add_argument("--voice-lang", choices=["zh", "en"], help=_("spoken language (default: --lang, else voice.lang)"))
    p.add_argument("--out", metavar="FILE.wav", help=_("write the WAV here instead of playing it"))
    p.add_argument("--volume", type=int, metavar="PCT", help=_("0-100 (default: the volume scheduled for now)"))
    p.add_argument("--list", action="store_true", help=_("list the prompt names and their texts"))
    p.add_argument("--json", action="store_true", help=_("print the result as JSON"))
    p.set_defaults(func=cmd_speak)


def cmd_speak(args) -> int:
    from hw.audio import Renderer, RenderError

    from ..voice import PromptCatalogue, UnknownPrompt, VoicePolicy, voice_cache_dir
    from ..voice.build import make_player

    try:
        cfg = load_config(config_arg(args))
    except ConfigError as e:
        return print_problems(e)
    lang = args.voice_lang or getattr(args, "lang", None) or cfg.voice.lang
    catalogue = PromptCatalogue.from_config(cfg)

    if args.list:
        for name in catalogue.names():
            text = catalogue.text(name, lang)
            print(json.dumps({"prompt": name, "lang": lang, "text": text}, ensure_ascii=False) if args.json
                  else f"{name:24} {text}")
        return EXIT_OK
    if (args.text is None) == (args.prompt is None):
        print(_("gedge speak: give either TEXT or --prompt NAME (see --list)"), file=sys.stderr)
        return EXIT_USAGE
    if args.volume is not None and not 0 <= args.volume <= 100:
        print(_("gedge speak: --volume must be 0-100"), file=sys.stderr)
        return EXIT_USAGE
    if args.prompt is not None:
        try:
            text = catalogue.text(args.prompt, lang)
        except UnknownPrompt as e:
            print(_("gedge speak: {reason}").format(reason=e.args[0]), file=sys.stderr)
            return EXIT_USAGE
    else:
        text = args.text
    if not text.strip():
        print(_("gedge speak: nothing to say"), file=sys.stderr)
        return EXIT_USAGE

    voice = cfg.voice.voice_for(lang)
    volume = args.volume if args.volume is not None else VoicePolicy(cfg, catalogue).volume_at(time.time())
    renderer = Renderer(voice_cache_dir(cfg), timeout_s=cfg.voice.render_timeout_s)
    result = {"prompt": args.prompt, "lang": lang, "text": text, "voice": voice, "volume": volume}
    try:
        rendered = renderer.render(text, voice, cfg.voice.rate)
        wav = renderer.wav_for(text, voice, cfg.voice.rate, volume)
    except (RenderError, OSError) as e:
        print(_("gedge speak: {reason}").format(reason=e), file=sys.stderr)
        return EXIT_FAILURE
    result.update(voice=rendered.voice, engine=rendered.engine, duration_s=round(rendered.duration_s, 2))

    if args.out:
        out = Path(args.out)
        try:  # the very file the speaker would play
            shutil.copyfile(wav, out)
        except OSError as e:
            print(_("gedge speak: cannot write {path}: {reason}").format(path=out, reason=e.strerror or e), file=sys.stderr)
            return EXIT_FAILURE
        result["out"] = str(out)
        _report(args, result, _("wrote {path} ({seconds:.1f} s, voice {voice}, volume {volume}%)").format(
            path=out, seconds=rendered.duration_s, voice=rendered.voice, volume=volume))
        return EXIT_OK

    player = make_player(cfg)
    played = player.play(wav, cfg.voice.play_timeout_s)
    result["played"] = played.ok
    if not played.ok:
        result["error"] = played.error
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        print(_("gedge speak: {reason}").format(reason=played.error), file=sys.stderr)
        return EXIT_FAILURE
    _report(args, result, _("played {seconds:.1f} s (voice {voice}, volume {volume}%): {text}").format(
        seconds=rendered.duration_s, voice=rendered.voice, volume=volume, text=text))
    return EXIT_OK


def _report(args, result: dict, line: str) -> None:
    print(json.dumps(result, ensure_ascii=False) if args.json else line)
