"""Where the product's bundled files (default config, shipped model, unit file) live.

From a source checkout they sit beside the packages; from an installed wheel they are
installed as data files under `<prefix>/share/garbage-edge`.
"""
from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

DEFAULT_CONFIG_PATH = Path("/etc/garbage-edge/config.yaml")
CONFIG_ENV = "GARBAGE_EDGE_CONFIG"
CONTROL_SOCKET = "control.sock"


@lru_cache(maxsize=1)
def resource_root() -> Path:
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "config" / "default.yaml").is_file():
        return checkout
    return Path(sys.prefix) / "share" / "garbage-edge"


def bundled_default_config() -> Path:
    return resource_root() / "config" / "default.yaml"


def resolve_resource(path: str | Path, base: Path | None = None) -> Path:
    """Resolve a relative path from a config: beside the config file first, then the bundled resources."""
    p = Path(path).expanduser()
    if p.is_absolute():
        return p
    if base is not None and (base / p).exists():
        return base / p
    return resource_root() / p


def control_socket_path(storage) -> Path:
    """The agent's control socket (`storage`: the config's storage section): in the runtime
    directory (systemd's RuntimeDirectory, /run/garbage-edge), or in the state directory when
    there is none (a run outside systemd: tests, a laptop). The agent and its clients (the
    console, `gedge status`) find it by the same rule."""
    run = Path(storage.runtime_dir).expanduser()
    folder = run if run.is_dir() else Path(storage.state_dir).expanduser()
    return folder / CONTROL_SOCKET
