"""argparse's own messages ("usage:", "the following arguments are required") in our language.

argparse looks its messages up through its module-level `_` / `ngettext` (gettext's default
domain). Pointing them at our catalogues makes usage errors and `--help` headings follow
`--lang` like every other message. The ids below are argparse's (Python 3.10+), listed so that
`make i18n` extracts them; an id a newer Python adds simply stays English.
"""
from __future__ import annotations

import argparse

from ..i18n import N_, _, ngettext

ARGPARSE_MESSAGES = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("show program's version number and exit"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"),
    N_("unrecognized arguments: %s"),
    N_("the following arguments are required: %s"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("not allowed with argument %s"),
    N_("one of the arguments %s is required"),
    N_("ignored explicit argument %r"),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
    N_("can't open '%(filename)s': %(error)s"),
)


def install() -> None:
    """Route argparse's messages through the current language (call before building parsers)."""
    argparse._ = _
    argparse.ngettext = ngettext
