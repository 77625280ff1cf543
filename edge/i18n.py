"""Messages for people, in Chinese or English, from the gettext catalogues under edge/locale/.

Message ids are the English text. Call `_()` when the message is shown, not at import time
(a module-level constant would freeze the language before `--lang` is read); mark such
constants with `N_()` and translate them where they are printed. Logs stay English: never
pass a log message through `_()`.

The language is chosen once per process by the CLI: `--lang`, then the config's
`device.ui_lang`, then the locale (`LANG=zh_CN.UTF-8` gives Chinese). See `resolve_language`.
"""
from __future__ import annotations

import contextlib
import contextvars
import gettext
import os
import threading
import unicodedata
from collections.abc import Mapping
from pathlib import Path

DOMAIN = "gedge"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "en"
# the variables gettext itself reads, in its order of precedence
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_lock = threading.Lock()
_current: str | None = None  # None: not chosen yet, taken from the environment on first use
_explicit = False  # chosen by name (--lang): a config's device.ui_lang does not override it
_catalogues: dict[str, gettext.NullTranslations] = {}
# a web request's own language (the console's API): wins over the process's within its context
_context_language: contextvars.ContextVar[str | None] = contextvars.ContextVar("gedge_language", default=None)


def normalize_language(lang: str) -> str:
    """'zh', 'zh_CN', 'zh-TW', 'zh_CN.UTF-8' -> 'zh'; 'en', 'en_US.UTF-8' -> 'en'.

    Raises ValueError for any other language (there is no catalogue for it)."""
    code = lang.strip().replace("-", "_").split(".")[0].split("@")[0].split("_")[0].lower()
    if code not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r} (use one of: {', '.join(LANGUAGES)})")
    return code


def language_from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The language the locale asks for: the first set of LANGUAGE, LC_ALL, LC_MESSAGES, LANG;
    Chinese when it is zh_*, English for anything else (C, POSIX, en_US, de_DE...)."""
    env = os.environ if environ is None else environ
    for var in LOCALE_VARIABLES:
        value = env.get(var, "")
        first = value.split(":")[0].strip()  # LANGUAGE may be a list: zh_CN:en
        if first:
            return "zh" if first.lower().startswith("zh") else DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def resolve_language(cli_lang: str | None, config_lang: str | None) -> str:
    """--lang first, then the config's device.ui_lang, then the locale."""
    for lang in (cli_lang, config_lang):
        if lang:
            return normalize_language(lang)
    return language_from_environment()


def translations(lang: str) -> gettext.GNUTranslations:
    """The catalogue of `lang` (cached), e.g. for Jinja2's `install_gettext_translations`.

    A missing .mo file (a broken install) falls back to the English ids rather than failing:
    a message in the wrong language is better than no message."""
    lang = normalize_language(lang)
    with _lock:
        catalogue = _catalogues.get(lang)
        if catalogue is None:
            catalogue = gettext.translation(DOMAIN, str(LOCALE_DIR), languages=[lang], fallback=True)
            _catalogues[lang] = catalogue
    return catalogue  # type: ignore[return-value]


def set_language(lang: str | None) -> str:
    """Choose the language of this process: 'zh', 'en', or None for the locale's. Returns it."""
    global _current, _explicit
    chosen = language_from_environment() if lang is None else normalize_language(lang)
    _current, _explicit = chosen, lang is not None
    return chosen


def use_config_language(config_lang: str | None) -> str:
    """Apply a config's device.ui_lang, unless the language was chosen by name (--lang wins).

    The config loader calls it as soon as the file is parsed, so even the problems found in
    that file are told in the language it asks for."""
    global _current
    if config_lang and not _explicit:
        try:
            _current = normalize_language(config_lang)
        except ValueError:
            pass  # the config's own validation says what is wrong with the value
    return current_language()


@contextlib.contextmanager
def language(lang: str):
    """Messages in `lang` inside the block, for this thread or task only: a server answers each
    request in its reader's language (config problems included) whatever the process's is."""
    token = _context_language.set(normalize_language(lang))
    try:
        yield
    finally:
        _context_language.reset(token)


def current_language() -> str:
    global _current
    override = _context_language.get()
    if override is not None:
        return override
    if _current is None:
        _current = language_from_environment()
    return _current


def _(message: str) -> str:
    """`message` (the English id) in the current language."""
    return translations(current_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for `n`, in the current language (Chinese has one form)."""
    return translations(current_language()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a message for extraction without translating it yet (module-level constants)."""
    return message


def display_width(text: str) -> int:
    """Columns `text` takes in a terminal: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int) -> str:
    """`text` left-aligned in `width` terminal columns (str.ljust counts a Chinese character as one)."""
    return text + " " * max(0, width - display_width(text))
