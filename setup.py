"""Packaging for garbage-edge: the agent (`edge`), its drivers (`hw`) and the `gedge` CLI."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "edge" / "__init__.py").read_text()).group(1)


def data_files():
    """Config, shipped model and systemd unit, installed under share/garbage-edge."""
    groups = {}
    for folder in ("config", "models", "systemd"):
        for path in sorted((HERE / folder).rglob("*")):
            if path.is_file() and path.suffix in {".yaml", ".onnx", ".md", ".service", ".py", ".txt"}:
                target = str(Path("share/garbage-edge") / path.parent.relative_to(HERE))
                groups.setdefault(target, []).append(str(path.relative_to(HERE)))
    return sorted(groups.items())


setup(
    name="garbage-edge",
    version=VERSION,
    description="Edge agent for a smart community garbage room: bags outside bins, fill level, odor, voice, platform uplink",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["edge", "edge.*", "hw", "hw.*"]),
    include_package_data=True,
    package_data={"hw": ["sim/scenarios/*.yaml"], "edge": ["voice/*.yaml"]},
    data_files=data_files(),
    install_requires=[
        "numpy>=1.23",
        "opencv-python>=4.6",
        "onnxruntime>=1.16",
        "pydantic>=2.5,<3",
        "ruamel.yaml>=0.18",
        "pyserial>=3.5",
        "requests>=2.31",
        "pyttsx3>=2.90",
        "argcomplete>=3.1",
    ],
    extras_require={
        # Training, export and the ultralytics detector backend. Brings torch: never on the box by default.
        "ultralytics": ["ultralytics>=8.3", "onnx>=1.15", "onnxslim>=0.1.40"],
        "mqtt": ["paho-mqtt>=2.0"],
        "gpio": [
            "gpiozero>=2.0",
            "lgpio>=0.2; platform_machine=='aarch64' or platform_machine=='armv7l'",
        ],
        "dev": ["pytest>=7.4", "hypothesis>=6.90", "ruff>=0.4"],
    },
    entry_points={
        "console_scripts": [
            "gedge=edge.cli:main",
            "garbage-edge=edge.cli:main",
        ]
    },
)
