"""The language choice and the message catalogues (edge/i18n.py, edge/locale/)."""
from __future__ import annotations

import gettext
import importlib.util
import re
import sys

import pytest

from edge import i18n

from conftest import ROOT

babel = pytest.importorskip("babel", reason="Babel (the dev extra) reads the .po files")
from babel.messages.extract import extract_from_dir  # noqa: E402
from babel.messages.frontend import parse_mapping_cfg  # noqa: E402
from babel.messages.pofile import read_po  # noqa: E402

LOCALE = ROOT / "edge" / "locale"
CATALOGUES = sorted(LOCALE.glob("*/LC_MESSAGES/gedge.po"))


@pytest.fixture(autouse=True)
def _restore_language():
    before = i18n._current
    yield
    i18n._current = before


# -- choosing the language ------------------------------------------------------------------

@pytest.mark.parametrize("env, expected", [
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "zh_TW.UTF-8"}, "zh"),
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({}, "en"),
    ({"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}, "en"),          # LC_ALL overrides LANG
    ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "en_US.UTF-8", "LANGUAGE": "zh_CN:en"}, "zh"),  # LANGUAGE first, a list
    ({"LANG": "zh_CN.UTF-8", "LC_ALL": ""}, "zh"),           # an empty variable does not count
])
def test_language_from_the_locale(env, expected):
    assert i18n.language_from_environment(env) == expected


def test_lang_option_then_config_then_locale(monkeypatch):
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    assert i18n.resolve_language("en", "zh") == "en"
    assert i18n.resolve_language(None, "en") == "en"
    assert i18n.resolve_language(None, None) == "zh"
    assert i18n.resolve_language("zh_CN.UTF-8", None) == "zh"


def test_an_unknown_language_is_refused():
    with pytest.raises(ValueError, match="zh, en"):
        i18n.set_language("fr")


def test_messages_follow_the_chosen_language():
    message = "{path}: ok"  # translated in the zh catalogue
    assert i18n.set_language("zh") == "zh"
    assert i18n.current_language() == "zh"
    assert i18n._(message) not in ("", message)
    i18n.set_language("en")
    assert i18n._(message) == message
    assert i18n.translations("zh").gettext(message) != message  # what Jinja2 is given


def test_chinese_has_one_plural_form():
    i18n.set_language("zh")
    assert i18n.ngettext("{n} problem", "{n} problems", 1) == i18n.ngettext("{n} problem", "{n} problems", 5)
    i18n.set_language("en")
    assert i18n.ngettext("{n} problem", "{n} problems", 5) == "{n} problems"


# -- the catalogues -------------------------------------------------------------------------

def _read(po):
    with po.open("rb") as f:
        return read_po(f)


def _translated(message) -> bool:
    strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
    return not message.fuzzy and all(strings)


def test_both_languages_have_a_catalogue():
    assert {po.parts[-3] for po in CATALOGUES} == set(i18n.LANGUAGES)


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda p: p.parts[-3])
def test_each_mo_is_compiled_from_its_po(po):
    """The shipped .mo holds what compiling its .po gives now (else: run `make i18n`)."""
    import io

    from babel.messages.mofile import write_mo

    fresh = io.BytesIO()
    write_mo(fresh, _read(po))  # what `pybabel compile` writes (it skips fuzzy entries too)
    fresh.seek(0)
    expected = dict(gettext.GNUTranslations(fresh)._catalog)
    with po.with_suffix(".mo").open("rb") as f:
        compiled = dict(gettext.GNUTranslations(f)._catalog)
    for catalog in (expected, compiled):
        catalog.pop("", None)  # the header (dates)
    stale = sorted(str(k) for k in set(expected) ^ set(compiled) | {k for k in expected if compiled.get(k) != expected[k]})
    assert not stale, f"{po.with_suffix('.mo')} is out of date with its .po (run `make i18n`): {stale[:10]}"


def _ids_in_code() -> dict[str, str]:
    """Every message id the code and templates pass to _() / ngettext() / N_(), and where."""
    method_map, options_map = parse_mapping_cfg((LOCALE / "babel.cfg").open(encoding="utf-8"))
    found = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(str(ROOT / "edge"), method_map, options_map):
        for msgid in (message if isinstance(message, tuple) else (message,)):
            if msgid:
                found.setdefault(msgid, f"edge/{filename}:{lineno}")
    return found


def test_every_message_in_the_code_has_a_chinese_translation():
    ids = _ids_in_code()
    assert "{path}: ok" in ids and "unknown key: did you mean {key}?" in ids  # the extraction itself works
    catalogue = _read(LOCALE / "zh" / "LC_MESSAGES" / "gedge.po")
    missing = []
    for msgid, where in sorted(ids.items(), key=lambda kv: kv[1]):
        message = catalogue.get(msgid) or next((m for m in catalogue if isinstance(m.id, tuple) and msgid in m.id), None)
        if message is None or not _translated(message):
            state = "fuzzy" if message is not None and message.fuzzy else "untranslated"
            missing.append(f"{where}: {state}: {msgid!r}")
    assert not missing, "add these to edge/locale/zh/LC_MESSAGES/gedge.po, then `make i18n`:\n" + "\n".join(missing)


def test_translations_keep_the_placeholders():
    """A translation that drops or renames {name} would raise KeyError when it is shown."""
    import string

    def fields(text):
        return sorted(f for _, f, _, _ in string.Formatter().parse(text) if f is not None)

    percent = re.compile(r"%(?:\([a-z_]+\))?[sdrf]")
    for message in _read(LOCALE / "zh" / "LC_MESSAGES" / "gedge.po"):
        if not (message.id and _translated(message)):
            continue
        ids = message.id if message.pluralizable else (message.id,)
        strings = message.string if message.pluralizable else (message.string,)
        for text in strings:
            if "{" in ids[0]:
                assert fields(text) == fields(ids[-1]), message.id
            if "python-format" in message.flags:  # argparse's %(name)s messages
                assert sorted(percent.findall(text)) == sorted(percent.findall(ids[-1])), message.id


# -- `make i18n`'s merge never loses a translation ------------------------------------------

def _merge_module():
    spec = importlib.util.spec_from_file_location("i18n_merge", ROOT / "scripts" / "i18n_merge.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


HEADER = 'msgid ""\nmsgstr ""\n"Language: zh\\n"\n"Content-Type: text/plain; charset=utf-8\\n"\n'


def test_merge_keeps_appended_and_returning_translations(tmp_path):
    merge = _merge_module()
    pot = tmp_path / "gedge.pot"
    po = tmp_path / "zh" / "LC_MESSAGES" / "gedge.po"
    po.parent.mkdir(parents=True)
    po.write_text(
        HEADER
        + '\nmsgid "kept"\nmsgstr ""\n'
        + '\nmsgid "translated first"\nmsgstr "先翻好了"\n'
        + '\n#~ msgid "back in the code"\n#~ msgstr "回来了"\n'
        + '\nmsgid "kept"\nmsgstr "保留"\n'          # appended by someone: wins over the empty one
        + '\nmsgid "not in the code yet"\nmsgstr "还没用上"\n'
        + '\nmsgid "translated first"\nmsgstr ""\n',  # an empty duplicate appended later hides nothing
        encoding="utf-8",
    )
    pot.write_text(HEADER + "".join(f'\nmsgid "{i}"\nmsgstr ""\n' for i in ("kept", "back in the code", "new", "translated first")),
                   encoding="utf-8")
    assert merge.main([str(pot), str(tmp_path)]) == 0
    merged = _read(po)
    assert merged.get("kept").string == "保留"
    assert merged.get("back in the code").string == "回来了"
    assert merged.get("new").string == ""
    assert merged.get("translated first").string == "先翻好了"
    assert merged.obsolete["not in the code yet"].string == "还没用上"
