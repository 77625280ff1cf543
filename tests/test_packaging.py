"""setup.py: the `garbage-edge` distribution, its extras and console scripts; the base install never pulls torch."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import setuptools

ROOT = Path(__file__).resolve().parent.parent
HEAVY = {"torch", "torchvision", "ultralytics"}


@pytest.fixture(scope="module")
def setup_kwargs() -> dict:
    """What setup.py hands to setuptools.setup(), without building anything."""
    captured: dict = {}
    original = setuptools.setup
    setuptools.setup = lambda **kw: captured.update(kw)
    try:
        code = compile((ROOT / "setup.py").read_text(), str(ROOT / "setup.py"), "exec")
        exec(code, {"__file__": str(ROOT / "setup.py"), "__name__": "__main__"})
    finally:
        setuptools.setup = original
    return captured


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() for r in requirements}


def test_distribution_packages_and_scripts(setup_kwargs):
    assert setup_kwargs["name"] == "garbage-edge"
    packages = set(setup_kwargs["packages"])
    assert {"edge", "hw"} <= packages
    assert all(p.split(".")[0] in ("edge", "hw") for p in packages), packages
    scripts = set(setup_kwargs["entry_points"]["console_scripts"])
    assert scripts == {"gedge=edge.cli:main", "garbage-edge=edge.cli:main"}


def test_base_install_has_no_torch_and_extras_carry_it(setup_kwargs):
    assert not _names(setup_kwargs["install_requires"]) & HEAVY
    extras = {k: _names(v) for k, v in setup_kwargs["extras_require"].items()}
    assert {"ultralytics", "mqtt", "gpio", "dev"} <= set(extras)
    assert "ultralytics" in extras["ultralytics"]
    assert "paho-mqtt" in extras["mqtt"]
    assert {"gpiozero", "lgpio"} <= extras["gpio"]
    assert {"pytest", "hypothesis"} <= extras["dev"]
    lgpio = next(r for r in setup_kwargs["extras_require"]["gpio"] if r.startswith("lgpio"))
    assert "platform_machine" in lgpio, "lgpio only on a Pi"


def test_the_check_above_can_see_torch():
    assert _names(["torch>=2.0; python_version>'3'", "numpy"]) & HEAVY == {"torch"}
