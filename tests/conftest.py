"""Shared fixtures: paths into the source tree and the bundled default config."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config" / "default.yaml"


@pytest.fixture
def default_config_text() -> str:
    return DEFAULT_CONFIG.read_text(encoding="utf-8")


@pytest.fixture
def config_file(tmp_path, default_config_text) -> Path:
    """A private copy of the default config to change."""
    path = tmp_path / "config.yaml"
    path.write_text(default_config_text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _english_locale(monkeypatch):
    """Messages in English unless a test asks otherwise: the suite must not depend on the
    locale of the machine it runs on (a Chinese desktop would turn every message Chinese)."""
    from edge import i18n

    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    i18n.set_language(None)
    yield
    i18n.set_language(None)
