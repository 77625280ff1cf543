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


def _make_variable(name: str) -> str:
    text = (ROOT / "Makefile").read_text()
    m = re.search(rf"^{name}\s*\?=\s*(.*)$", text, re.M)
    assert m, f"Makefile has no {name}"
    return m.group(1).strip()


def test_the_demo_installs_no_torch_and_the_tests_get_every_extra(setup_kwargs):
    """`make demo` on a fresh machine: base package plus the demo's extras, none of which pull torch."""
    extras = {k: _names(v) for k, v in setup_kwargs["extras_require"].items()}
    demo = [e for e in _make_variable("DEMO_EXTRAS").split(",") if e]
    assert set(demo) <= set(extras), demo
    assert not set().union(*(extras[e] for e in demo)) & HEAVY, "the demo runs on onnxruntime: no torch"
    assert set(_make_variable("TEST_EXTRAS").split(",")) == set(extras), "make test installs every extra"
    text = (ROOT / "Makefile").read_text()
    demo_rule = re.search(r"^demo:(.*)$", text, re.M).group(1)
    assert ".installed-demo" in demo_rule and "venv" not in demo_rule.replace(".installed-demo", "")


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def test_install_sh_uses_the_system_python_writes_the_site_template_and_installs_the_docs(tmp_path):
    """systemd/install.sh run for real into a scratch folder: root, apt, users and systemd are
    stand-ins that record their calls; the interpreter it must use is a stand-in "system Python"
    whose venv's gedge is this checkout's, and a `python3` first on PATH (as a pyenv one under
    /root was) fails the test if it is ever run."""
    import os
    import shutil
    import subprocess
    import sys

    if shutil.which("bash") is None:
        pytest.skip("install.sh is a bash script")
    stubs, calls = tmp_path / "stubs", tmp_path / "calls.log"
    stubs.mkdir()
    log = f'echo "$(basename "$0") $*" >> {calls}'
    _stub(stubs, "id", log + '\n[ "$1" = -u ] && echo 0; exit 0')
    for name in ("apt-get", "getent", "groupadd", "useradd", "chown", "systemctl"):
        _stub(stubs, name, log)
    _stub(stubs, "python3", log + "\nexit 97")  # the wrong interpreter: first on PATH
    system_python = tmp_path / "usr-bin-python3"
    venv = "\n".join([
        '[ "$1 $2" = "-m venv" ] || exit 98',
        'mkdir -p "$3/bin"',
        "printf '#!/bin/sh\\nexit 0\\n' > \"$3/bin/pip\"",
        f"printf '#!/bin/sh\\nexec {sys.executable} -m edge \"$@\"\\n' > \"$3/bin/gedge\"",
        'chmod 755 "$3/bin/pip" "$3/bin/gedge"',
    ])
    _stub(tmp_path, system_python.name, log + "\n" + venv)
    dirs = {name: tmp_path / name for name in ("opt", "etc", "doc", "units", "bin")}
    for d in dirs.values():
        d.mkdir()
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "SYSTEM_PYTHON": str(system_python),
           "PREFIX": str(dirs["opt"]), "CONF_DIR": str(dirs["etc"] / "garbage-edge"), "DOC_DIR": str(dirs["doc"]),
           "UNIT_DIR": str(dirs["units"]), "BIN_DIR": str(dirs["bin"])}
    env.pop("GARBAGE_EDGE_CONFIG", None)
    run = subprocess.run(["bash", str(ROOT / "systemd" / "install.sh")], capture_output=True, text=True,
                         timeout=300, env=env)
    said = run.stdout + run.stderr
    assert run.returncode == 0, said
    recorded = calls.read_text()
    assert "python3 " not in recorded.replace(system_python.name, ""), "PATH's python3 was used: " + recorded
    assert f"{system_python.name} -m venv {dirs['opt']}/venv" in recorded
    assert "systemctl enable garbage-edge.service" in recorded
    # the installed config is the site template: it does not validate until the box is named
    config = dirs["etc"] / "garbage-edge" / "config.yaml"
    template = subprocess.run([sys.executable, "-m", "edge", "config", "template"], capture_output=True, text=True,
                              cwd=ROOT, env=env).stdout
    assert config.read_text(encoding="utf-8") == template
    assert "device.id" in said and "not complete yet" in said
    # the docs are where the unit's Documentation= points (the same folder name, moved here)
    unit = (ROOT / "systemd" / "garbage-edge.service").read_text()
    documentation = Path(re.search(r"^Documentation=file://(\S+)$", unit, re.M).group(1))
    assert documentation.parent == Path("/usr/share/doc/garbage-edge")
    assert (dirs["doc"] / documentation.name).read_text() == (ROOT / "README.md").read_text()
    assert (dirs["doc"] / "install.md").is_file()
    assert (dirs["units"] / "garbage-edge.service").read_text() == unit
    assert os.readlink(dirs["bin"] / "gedge") == f"{dirs['opt']}/venv/bin/gedge"
    script = (ROOT / "systemd" / "install.sh").read_text()
    assert re.search(r"^DOC_DIR=\$\{DOC_DIR:-/usr/share/doc/garbage-edge\}", script, re.M)
    assert re.search(r"^SYSTEM_PYTHON=\$\{SYSTEM_PYTHON:-/usr/bin/python3\}$", script, re.M)
