"""The site template `make install` writes to /etc/garbage-edge/config.yaml, made from the bundled
default config so it always lists every key with its default and comment.

It differs from the default (the simulated room) in what makes a box a box: the device id, the
site's community and point id and the camera are empty, so the file does not validate until they
are set; there are no sensors and no relay yet (the commented hardware examples stay). A box
installed this way can never report the simulated room's made-up incidents.
"""
from __future__ import annotations

from typing import Any

from .edit import edited_text

# what must be set on site (empty: refused until filled in), and the simulated parts taken out
SITE_BLANKS: dict[str, Any] = {
    "device.id": "",
    "device.site.community": "",
    "device.site.point_id": "",
    "camera.source": "",
    "sensors": [],
    "actuators": [],
}
MUST_SET = ("device.id", "device.site.community", "device.site.point_id", "camera.source")

HEADER = """\
# garbage-edge site configuration, written by `make install` (`gedge config template`).
# It does not validate until this box's device id, site and camera are set, all in one command:
#   sudo gedge config set device.id ID device.site.community NAME device.site.point_id POINT camera.source URL
# Then add the sensors and the relay (the commented examples under sensors: and actuators:), draw the
# zones (`gedge zones show --image z.jpg`) and set the uplink. Every key is listed with its default.
# Durations are seconds. Secrets are never written here: only files or systemd credentials that hold them.
"""


def site_template(default_text: str) -> str:
    """The site template from the default config's text (comments kept, header replaced)."""
    text = default_text
    for key, value in SITE_BLANKS.items():
        text = edited_text(text, key, value, name="default.yaml")
    lines = text.splitlines(keepends=True)
    start = 0
    while start < len(lines) and lines[start].startswith("#"):
        start += 1  # the default's own header describes the simulated room: replaced
    return HEADER + "".join(lines[start:])
