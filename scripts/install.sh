#!/usr/bin/env bash
# Installs bedside as a service on a Raspberry Pi (or any Debian machine with systemd):
#   system packages, a venv under /opt/bedside, the systemd unit, the example config (never
#   overwriting an existing /etc/bedside/bedside.toml), a dedicated user; then enables and starts it.
# Run from a clone of the repository: `make install` (it uses sudo when not root).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then exec sudo "$0" "$@"; fi

PREFIX=/opt/bedside
./scripts/system-packages.sh

if ! id bedside >/dev/null 2>&1; then
  useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin bedside
fi
for group in audio gpio spi; do
  if getent group "$group" >/dev/null; then usermod -aG "$group" bedside; fi
done

install -d -m 0755 "$PREFIX"
python3 -m venv --system-site-packages "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install -q --upgrade pip
"$PREFIX/venv/bin/pip" install -q .

install -d -m 0755 /etc/bedside
if [ ! -e /etc/bedside/bedside.toml ]; then
  install -m 0644 config/bedside.toml /etc/bedside/bedside.toml
  echo "installed the example config: /etc/bedside/bedside.toml"
else
  echo "kept the existing /etc/bedside/bedside.toml"
fi
"$PREFIX/venv/bin/bedside" check-config /etc/bedside/bedside.toml

install -m 0644 systemd/bedside.service /etc/systemd/system/bedside.service
systemctl daemon-reload
systemctl enable bedside.service
systemctl restart bedside.service
echo "bedside is running: 'systemctl status bedside', 'journalctl -u bedside -f', '$PREFIX/venv/bin/bedside doctor'"
