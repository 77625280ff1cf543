#!/usr/bin/env bash
# Install garbage-edge on the box (Raspberry Pi OS / Debian) as a systemd service.
# Run from a checkout as root: ./systemd/install.sh   (or: sudo make install)
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${PREFIX:-/opt/garbage-edge}
CONF_DIR=/etc/garbage-edge
SERVICE_USER=garbage-edge
EXTRAS=${EXTRAS:-gpio,mqtt}

[ "$(id -u)" = 0 ] || { echo "run as root (sudo $0)" >&2; exit 2; }

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3-venv espeak-ng alsa-utils socat

for group in gpio spi i2c dialout video audio; do
    getent group "$group" >/dev/null || groupadd --system "$group"
done
id "$SERVICE_USER" >/dev/null 2>&1 || useradd --system --home-dir /var/lib/garbage-edge --shell /usr/sbin/nologin "$SERVICE_USER"

python3 -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install -q --upgrade pip
"$PREFIX/venv/bin/pip" install -q ".[${EXTRAS}]"
# on root's PATH (sudo's secure_path has /usr/local/bin), so `sudo gedge …` works as the docs say
ln -sf "$PREFIX/venv/bin/gedge" /usr/local/bin/gedge

install -d -m 755 "$CONF_DIR" "$CONF_DIR/credentials"
chmod 700 "$CONF_DIR/credentials"
if [ ! -e "$CONF_DIR/config.yaml" ]; then
    install -m 644 config/default.yaml "$CONF_DIR/config.yaml"
    # on the box, state and cache live where systemd's StateDirectory/CacheDirectory put them
    echo "wrote $CONF_DIR/config.yaml: set device, camera, zones, sensors and uplink with 'gedge config set'"
fi
if [ ! -e "$CONF_DIR/credentials/platform-token" ]; then
    install -m 600 /dev/null "$CONF_DIR/credentials/platform-token"
    echo "put the platform token into $CONF_DIR/credentials/platform-token"
fi
chown -R "$SERVICE_USER:$SERVICE_USER" "$CONF_DIR"
chown root:root "$CONF_DIR/credentials" "$CONF_DIR/credentials/platform-token"

install -m 644 systemd/garbage-edge.service /etc/systemd/system/garbage-edge.service
"$PREFIX/venv/bin/gedge" config validate "$CONF_DIR/config.yaml"
systemctl daemon-reload
systemctl enable garbage-edge.service
echo "installed. Check with: sudo gedge doctor; start with: sudo systemctl start garbage-edge"
