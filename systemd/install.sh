#!/usr/bin/env bash
# Install garbage-edge on the box (Raspberry Pi OS / Debian) as a systemd service.
# Run from a checkout as root: ./systemd/install.sh   (or: sudo make install)
set -euo pipefail
cd "$(dirname "$0")/.."

# The paths can be moved (the install test runs this script into a scratch folder); the unit
# expects these defaults.
PREFIX=${PREFIX:-/opt/garbage-edge}
CONF_DIR=${CONF_DIR:-/etc/garbage-edge}
UNIT_DIR=${UNIT_DIR:-/etc/systemd/system}
BIN_DIR=${BIN_DIR:-/usr/local/bin}
SERVICE_USER=garbage-edge
EXTRAS=${EXTRAS:-gpio,mqtt}
# The system's own interpreter (Debian's python3-venv), never whatever `python3` comes first on root's
# PATH: a pyenv or conda interpreter under /root is unreadable to the service user and the unit fails.
SYSTEM_PYTHON=${SYSTEM_PYTHON:-/usr/bin/python3}
DOC_DIR=${DOC_DIR:-/usr/share/doc/garbage-edge}   # where the unit's Documentation= points

[ "$(id -u)" = 0 ] || { echo "run as root (sudo $0)" >&2; exit 2; }

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3-venv espeak-ng alsa-utils socat

for group in gpio spi i2c dialout video audio; do
    getent group "$group" >/dev/null || groupadd --system "$group"
done
id "$SERVICE_USER" >/dev/null 2>&1 || useradd --system --home-dir /var/lib/garbage-edge --shell /usr/sbin/nologin "$SERVICE_USER"

[ -x "$SYSTEM_PYTHON" ] || { echo "$SYSTEM_PYTHON not found: install python3 (apt-get install python3-venv)" >&2; exit 1; }
"$SYSTEM_PYTHON" -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install -q --upgrade pip
"$PREFIX/venv/bin/pip" install -q ".[${EXTRAS}]"
# on root's PATH (sudo's secure_path has /usr/local/bin), so `sudo gedge …` works as the docs say
ln -sf "$PREFIX/venv/bin/gedge" "$BIN_DIR/gedge"

install -d -m 755 "$CONF_DIR" "$CONF_DIR/credentials"
chmod 700 "$CONF_DIR/credentials"
if [ ! -e "$CONF_DIR/config.yaml" ]; then
    # the site template: it does not validate (so the agent does not start) until the device id,
    # the site and the camera are set; never the simulated room, which would report made-up incidents
    "$PREFIX/venv/bin/gedge" config template > "$CONF_DIR/config.yaml.new"
    chmod 644 "$CONF_DIR/config.yaml.new" && mv "$CONF_DIR/config.yaml.new" "$CONF_DIR/config.yaml"
    echo "wrote $CONF_DIR/config.yaml: set device.id, device.site.community, device.site.point_id and camera.source"
    echo "  together: sudo gedge config set device.id ID device.site.community NAME device.site.point_id POINT camera.source URL"
    echo "  then the sensors, zones and uplink (see $DOC_DIR/install.md)"
fi
if [ ! -e "$CONF_DIR/credentials/platform-token" ]; then
    install -m 600 /dev/null "$CONF_DIR/credentials/platform-token"
    echo "put the platform token into $CONF_DIR/credentials/platform-token"
fi
chown -R "$SERVICE_USER:$SERVICE_USER" "$CONF_DIR"
chown root:root "$CONF_DIR/credentials" "$CONF_DIR/credentials/platform-token"

install -d -m 755 "$DOC_DIR"
install -m 644 README.md docs/*.md "$DOC_DIR/"

install -m 644 systemd/garbage-edge.service "$UNIT_DIR/garbage-edge.service"
# the maintenance console (docs/console.md): installed, not enabled; 127.0.0.1 only until configured
install -m 644 systemd/garbage-edge-console.service "$UNIT_DIR/garbage-edge-console.service"
systemctl daemon-reload
systemctl enable garbage-edge.service
if "$PREFIX/venv/bin/gedge" config validate "$CONF_DIR/config.yaml"; then
    echo "installed. Check with: sudo gedge doctor; start with: sudo systemctl start garbage-edge"
else
    echo "installed, but $CONF_DIR/config.yaml is not complete yet (above): set those keys, then"
    echo "  sudo gedge config validate && sudo gedge doctor && sudo systemctl start garbage-edge"
fi
