"""Layout rules from the design: `hw` never imports `edge`; the box's agent never needs torch."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_hw_never_imports_edge():
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "hw").rglob("*.py"))
        for name in _imports(path)
        if name == "edge" or name.startswith("edge.")
    ]
    assert offenders == []


def test_the_check_above_can_see_an_offence(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from edge.config import Config\n")
    assert "edge.config" in _imports(bad)


def test_cli_and_config_load_without_torch():
    code = "import sys, edge.cli; edge.cli.build_parser(); assert 'torch' not in sys.modules, 'torch was imported'"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
