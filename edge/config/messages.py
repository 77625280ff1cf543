"""Config problems told in the words of the person who edits the file, in their language.

Pydantic's and the YAML parser's own messages are for programmers ("String should match
pattern '^[A-Za-z0-9]…'", "found character '\\t' that cannot start any token"); the ones here
say what to do instead. Each function returns the text after "file:line key:".
"""
from __future__ import annotations

import codecs
import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel

from ..i18n import N_, _
from .base import IDENTIFIER_PATTERN

SECRET_WORDS = ("token", "password", "secret", "apikey", "api_key")

# what a pattern allows, in words (a regex means nothing to the person on site)
PATTERN_WORDS = {
    IDENTIFIER_PATTERN: N_("may hold only letters (A-Z, a-z), digits (0-9) and . _ - ; it starts with a letter "
                           "or digit and is at most 64 characters long (no spaces, no Chinese characters)"),
}

# pydantic error type -> message; {placeholders} come from the error's ctx
_BY_TYPE = {
    "missing": N_("required key is missing"),
    "greater_than": N_("must be more than {gt}"),

    "greater_than_equal": N_("must be at least {ge}"),
    "less_than": N_("must be less than {lt}"),
    "less_than_equal": N_("must be at most {le}"),
    "multiple_of": N_("must be a multiple of {multiple_of}"),
    "finite_number": N_("must be a finite number"),
    "int_type": N_("must be a whole number"),
    "int_parsing": N_("must be a whole number"),
    "int_from_float": N_("must be a whole number"),
    "float_type": N_("must be a number"),
    "float_parsing": N_("must be a number"),
    "bool_type": N_("must be true or false"),
    "bool_parsing": N_("must be true or false"),
    "string_type": N_("must be text"),
    "string_too_short": N_("must be at least {min_length} characters long"),
    "string_too_long": N_("must be at most {max_length} characters long"),
    "too_short": N_("needs at least {min_length} entries"),
    "too_long": N_("may have at most {max_length} entries"),
    "list_type": N_("must be a list (lines starting with - )"),
    "tuple_type": N_("must be a list (lines starting with - )"),
    "dict_type": N_("must be a section (keys indented below it)"),
    "model_type": N_("must be a section (keys indented below it)"),
    "model_attributes_type": N_("must be a section (keys indented below it)"),
    "literal_error": N_("must be one of: {expected}"),
    "enum": N_("must be one of: {expected}"),
    "union_tag_invalid": N_("must be one of: {expected_tags}"),
    "union_tag_not_found": N_("needs the key {discriminator}"),
}


def describe(err: dict, known_keys: list[str] | None = None) -> str:
    """One pydantic error, in words. `known_keys`: the keys allowed where an unknown key was found."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return unknown_key(str(err["loc"][-1]), known_keys or [])
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in PATTERN_WORDS:
        return _with_input(_(PATTERN_WORDS[ctx["pattern"]]), err)
    if kind in ("value_error", "assertion_error"):
        msg = err["msg"]
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix):]
        return msg  # our own validators' messages, already translated when raised
    if kind in _BY_TYPE:
        try:
            text = _(_BY_TYPE[kind]).format(**{k: _plain_ctx(v) for k, v in ctx.items()})
        except (KeyError, IndexError):
            text = err["msg"]
        return text if kind == "missing" else _with_input(text, err)
    return _with_input(err["msg"], err)  # a rare pydantic error: its own English words


def _plain_ctx(value: Any) -> Any:
    return f"{value:g}" if isinstance(value, float) else value


def _with_input(text: str, err: dict) -> str:
    value = err.get("input")
    if "input" in err and not isinstance(value, (dict, list)):
        return _("{message} (got {value})").format(message=text, value=repr(value))
    return text


def unknown_key(key: str, known_keys: list[str]) -> str:
    if any(w in key.lower() for w in SECRET_WORDS):
        return _("secrets are never written in the config: use token_file / password_file or a systemd credential")
    close = difflib.get_close_matches(key, known_keys, n=1, cutoff=0.6) or [
        k for k in known_keys if k.lower() == key.lower() or k.replace("_", "") == key.replace("_", "").lower()
    ]
    if close:
        return _("unknown key: did you mean {key}?").format(key=close[0])
    if known_keys:
        return _("unknown key (the keys allowed here: {keys})").format(keys=", ".join(sorted(known_keys)))
    return _("unknown key")


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The config sections an annotation can hold (through Optional, unions, lists, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    if typing.get_origin(annotation) is not None or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            found.extend(m for m in models_in(arg) if m not in found)
    return found


def known_keys_at(root: type[BaseModel], loc: tuple) -> list[str]:
    """The keys a file may write where `loc`'s last part is (for "did you mean")."""
    current = [root]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue  # a list index: models_in already looked inside the list
        inner = [m for model in current if part in model.model_fields for m in models_in(model.model_fields[part].annotation)]
        if inner:
            current = inner
        # else: a union's tag that pydantic puts in the path; stay at the same models
    keys: list[str] = []
    for model in current:
        for name, field in model.model_fields.items():
            key = field.alias or name
            if key not in keys:
                keys.append(key)
    return keys


# -- reading the file -------------------------------------------------------------------------

def decode(data: bytes, name: str) -> str:
    """The file's text; a file saved in another encoding gets a message that says how to fix it."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = e.start
    else:
        if "\x00" not in text:  # NUL bytes: UTF-16 without a byte-order mark (still "valid" UTF-8)
            return text
        bad = text.index("\x00")
    encoding = guess_encoding(data)
    line = data[:bad].count(b"\n") + 1
    if encoding:
        raise ValueError(_("{name}:{line} the file is saved as {encoding}, not UTF-8: save the file as UTF-8 "
                           "(in Notepad: Save As, Encoding: UTF-8; or `iconv -f {iconv} -t UTF-8`)").format(
            name=name, line=line, encoding=encoding, iconv=encoding.split()[0]))
    raise ValueError(_("{name}:{line} the file is not valid UTF-8 text: save the file as UTF-8").format(name=name, line=line))


def guess_encoding(data: bytes) -> str | None:
    """UTF-16 / UTF-32 (by their byte-order mark or NUL bytes) or GBK (Chinese Windows)."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "UTF-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "UTF-16"
    if data[:200].count(0) > len(data[:200]) // 4:  # ASCII written as UTF-16 without a BOM
        return "UTF-16"
    try:
        data.decode("gbk")
        return "GBK"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gb18030")
        return "GB18030"
    except UnicodeDecodeError:
        return None


def tab_lines(text: str) -> list[tuple[int, int]]:
    """(line, column), 1-based, of each tab in a line's indentation (YAML allows only spaces there)."""
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent and line.strip():
            found.append((n, indent.index("\t") + 1))
    return found


def tab_problem(tabs: list[tuple[int, int]]) -> str:
    """What to do about tabs (the caller says where: the first of them)."""
    if len(tabs) == 1:
        return _("a tab is used to indent: use spaces to indent (YAML does not allow tabs)")
    shown = ", ".join(str(n) for n, _col in tabs[:10]) + (" …" if len(tabs) > 10 else "")
    return _("tabs are used to indent: use spaces to indent (YAML does not allow tabs; lines {lines})").format(lines=shown)
