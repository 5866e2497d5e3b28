#!/usr/bin/env bash
# Installs bedside as a service on a Raspberry Pi (or any Debian machine with systemd):
#   system packages, a venv under /opt/bedside, the systemd unit, the example config (never
#   overwriting an existing /etc/bedside/bedside.toml), a dedicated user; then enables and starts it.
# Run from a clone of the repository: `make install` (it uses sudo when not root).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then exec sudo "$0" "$@"; fi

PREFIX=/opt/bedside
# The venv and unit must be readable by the service user whatever umask the installing shell has.
umask 022
./scripts/system-packages.sh

if ! id bedside >/dev/null 2>&1; then
  useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin bedside
fi
# The unit names these groups (SupplementaryGroups=); systemd refuses to start it if one is
# missing (216/GROUP), so a system without one (not a Pi, an old image) gets it created.
for group in audio gpio spi; do
  if ! getent group "$group" >/dev/null; then
    groupadd --system "$group"
    echo "created the missing group $group"
  fi
  usermod -aG "$group" bedside
done

install -d -m 0755 "$PREFIX"
python3 -m venv --system-site-packages "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install -q --upgrade pip
# Built from a copy: pip run as root in the clone would leave a root-owned build/ and
# bedside.egg-info there, and the owner's next `make run` or `make test` would fail on them.
build=$(mktemp -d)
git ls-files -z 2>/dev/null | xargs -0 -r tar -cf - | tar -xf - -C "$build" 2>/dev/null \
  || tar --exclude=./.venv --exclude=./.git --exclude=./build -cf - . | tar -xf - -C "$build"
# --compile (pip's default, said out loud): the service cannot write bytecode into /opt
# (ProtectSystem=strict), and without it every start compiles ~50 modules first (0.1 s on a
# desktop core, most of a second on a Zero 2 W).
"$PREFIX/venv/bin/pip" install -q --compile "$build"
rm -rf "$build"
./scripts/gpio-library.sh "$PREFIX/venv"
install -m 0644 README.md hardware.md "$PREFIX/"

# The config may hold an MQTT password: readable by root and the service only.
install -d -m 0750 -o root -g bedside /etc/bedside
if [ ! -e /etc/bedside/bedside.toml ]; then
  install -m 0640 -o root -g bedside config/bedside.toml /etc/bedside/bedside.toml
  echo "installed the example config: /etc/bedside/bedside.toml"
else
  chown root:bedside /etc/bedside/bedside.toml
  chmod 0640 /etc/bedside/bedside.toml
  echo "kept the existing /etc/bedside/bedside.toml (now 0640 root:bedside)"
fi
# Where the MQTT password goes ([mqtt] password_file = "mqtt-password"): one line, nothing else.
if [ ! -e /etc/bedside/mqtt-password ]; then
  install -m 0640 -o root -g bedside /dev/null /etc/bedside/mqtt-password
fi
chown root:bedside /etc/bedside/mqtt-password
chmod 0640 /etc/bedside/mqtt-password
runuser -u bedside -- "$PREFIX/venv/bin/bedside" check-config /etc/bedside/bedside.toml

install -m 0644 systemd/bedside.service /etc/systemd/system/bedside.service
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable bedside.service
  systemctl restart bedside.service
  echo "bedside is running: 'systemctl status bedside', 'journalctl -u bedside -f', '$PREFIX/venv/bin/bedside doctor'"
else
  echo "systemd is not running here (a chroot or a container): the service is installed, not started"
fi
