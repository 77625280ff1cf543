"""Merge freshly extracted message ids into the catalogues under edge/locale/ (`make i18n`).

Unlike `pybabel update`, it never loses a translation: an entry whose id left the code is kept
(as obsolete, `#~`) and comes back when the id returns; an entry appended at the end of a .po
for an id already in the file replaces the earlier one when it is translated and the earlier
one is not, or is a later correction. New ids come in untranslated, never guessed.

    python scripts/i18n_merge.py build/i18n/gedge.pot edge/locale
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, write_po

DOMAIN = "gedge"
WIDTH = 76


def _translated(message: Message) -> bool:
    strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
    return not message.fuzzy and all(strings)


def _entries(text: str) -> tuple[str, list[str]]:
    """The header block and each entry's text (entries are separated by blank lines)."""
    blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
    return blocks[0], blocks[1:]


def read_catalogue(path: Path) -> Catalog:
    """The catalogue in `path`, later translated duplicates winning over earlier entries."""
    header, blocks = _entries(path.read_text(encoding="utf-8"))
    catalogue = read_po(io.StringIO(header + "\n"), locale=path.parents[1].name)
    for block in blocks:
        obsolete = all(line.startswith("#") for line in block.splitlines())
        part = read_po(io.StringIO(header + "\n\n" + block + "\n"))
        for message in list(part) + list(part.obsolete.values()):
            if not message.id:
                continue
            key = catalogue._key_for(message.id, message.context)
            current = catalogue._messages.get(key) or catalogue.obsolete.get(key)
            if current is not None and _translated(current) and not _translated(message):
                continue  # an untranslated duplicate never hides a translation
            catalogue._messages.pop(key, None)
            catalogue.obsolete.pop(key, None)
            if obsolete and current is None:
                catalogue.obsolete[key] = message
            else:
                catalogue[message.id] = message
    return catalogue


def merge(template: Catalog, catalogue: Catalog) -> Catalog:
    ids = {catalogue._key_for(m.id, m.context) for m in template if m.id}
    for key, message in list(catalogue.obsolete.items()):
        if key in ids:  # the id is back in the code: revive its translation
            del catalogue.obsolete[key]
            catalogue[message.id] = message
    kept = dict(catalogue.obsolete)
    catalogue.update(template, no_fuzzy_matching=True, update_header_comment=False, update_creation_date=False)
    for key, message in kept.items():  # Catalog.update would forget them: nothing is lost
        catalogue.obsolete.setdefault(key, message)
    for message in catalogue:
        message.previous_id = ()
    return catalogue


def main(argv: list[str]) -> int:
    pot, locale_dir = Path(argv[0]), Path(argv[1])
    with pot.open("rb") as f:
        template = read_po(f)
    for po in sorted(locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        catalogue = merge(template, read_catalogue(po))
        out = io.BytesIO()
        write_po(out, catalogue, width=WIDTH, no_location=True, sort_output=False)
        if out.getvalue() != po.read_bytes():
            po.write_bytes(out.getvalue())
        messages = [m for m in catalogue if m.id]
        missing = sum(1 for m in messages if not _translated(m))
        print(f"{po}: {len(messages)} messages, {missing} untranslated, {len(catalogue.obsolete)} obsolete")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
