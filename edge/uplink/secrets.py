"""Secrets by reference: a file, or a systemd credential ($CREDENTIALS_DIRECTORY/<name>).

The value is never logged; error messages name only where it was looked for.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from ..files import config_relative


class SecretError(Exception):
    pass


def read_secret(file: str | None, credential: str | None, base_dir: Path | None = None,
                env: Mapping[str, str] | None = None, what: str = "secret") -> str | None:
    """The secret's text (surrounding whitespace stripped). A named file wins over a credential.
    None when neither is configured; SecretError when one is configured but cannot be read."""
    env = os.environ if env is None else env
    if file:
        p = config_relative(file, base_dir)
        try:
            value = p.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise SecretError(f"cannot read the {what} file {p}: {e.strerror or e}") from None
        if not value:
            raise SecretError(f"the {what} file {p} is empty")
        return value
    if credential:
        folder = env.get("CREDENTIALS_DIRECTORY")
        if not folder:
            raise SecretError(
                f"the {what} is the systemd credential {credential!r}, but $CREDENTIALS_DIRECTORY is not set "
                "(run under systemd with LoadCredential=, or set a file in the config)"
            )
        p = Path(folder) / credential
        try:
            value = p.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise SecretError(f"cannot read the {what} credential {credential!r}: {e.strerror or e}") from None
        if not value:
            raise SecretError(f"the {what} credential {credential!r} is empty")
        return value
    return None
