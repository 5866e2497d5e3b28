#!/usr/bin/env bash
# `make install-test`: README's Pi steps in a throw-away Debian bookworm chroot (what a fresh
# Raspberry Pi OS Lite is underneath, without the Pi's own archive: python3-lgpio is not there, so
# lgpio must come from PyPI), typed by a user `pi` where the README has them typed by the user and
# as root where it says sudo: the clone in pi's home, `make install`, then what it left (packages,
# the service user and its groups, the venv, config and password modes, nothing root-owned in the
# clone), and as pi: `bedside doctor` (no traceback, says what it cannot see), check-config, a 10 s
# render, 20 s of `bedside run` on ALSA null, and the clone's own venv (`make run`'s first step).
# Steps that need a running systemd are skipped by install.sh (PID 1 here is not systemd). Not part
# of CI: it downloads a Debian base system (~300 MB) and takes minutes (tens under emulation).
#   ARCH=arm64 make install-test   the same for a 64-bit Pi, with qemu-user-static
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then exec sudo "$0" "$@"; fi

arch=${ARCH:-$(dpkg --print-architecture)}
missing=()
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "$arch" != "$(dpkg --print-architecture)" ] && [ ! -e /usr/bin/qemu-aarch64-static ]; then
  missing+=(qemu-user-static binfmt-support)
fi
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
if [ "$arch" != "$(dpkg --print-architecture)" ]; then  # run the chroot's binaries through qemu
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable "qemu-$( [ "$arch" = arm64 ] && echo aarch64 || echo arm)" || true
fi

root=$(mktemp -d /var/tmp/bedside-chroot.XXXXXX)
chmod 0755 "$root"  # mktemp makes it 0700: no other user could reach anything inside
cleanup() {
  for m in dev/pts dev proc sys; do umount "$root/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT

echo "== debootstrap bookworm ($arch) into $root"
if ! debootstrap --arch="$arch" --variant=minbase --include=ca-certificates,python3,sudo,make,bc,git bookworm "$root" \
     >"$root.log" 2>&1; then
  tail -20 "$root.log"; exit 1
fi
rm -f "$root.log"
for m in proc sys dev dev/pts; do mount --bind "/$m" "$root/$m"; done
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The chroot reaches the package indexes the way this machine does: its pip configuration and any
# locally trusted CA certificates (a proxy that re-signs TLS) come along.
for conf in /etc/pip.conf /root/.config/pip/pip.conf; do
  if [ -e "$conf" ]; then mkdir -p "$root$(dirname "$conf")"; cp "$conf" "$root$conf"; fi
done
if compgen -G "/usr/local/share/ca-certificates/*" >/dev/null; then
  cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
  chroot "$root" update-ca-certificates >/dev/null
fi
export PIP_CERT=/etc/ssl/certs/ca-certificates.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
unset SSL_CERT_FILE SSL_CERT_DIR PIP_FIND_LINKS
# README step 2, as pi: the clone in pi's home, owned by pi. (`su`, not sudo: under qemu-user, sudo
# needs the binfmt entry's credentials flag.)
chroot "$root" useradd --create-home --shell /bin/bash --groups audio pi
mkdir -p "$root/home/pi/bedside"
git ls-files -z | xargs -0 tar -cf - | tar -xf - -C "$root/home/pi/bedside"
chroot "$root" chown -R pi:pi /home/pi/bedside
as_pi() { chroot "$root" su - pi -c "cd /home/pi/bedside && $*"; }
# Plain Debian on a Pi: the install behaves as on a Pi (numpy and soundfile from Debian, lgpio from
# wherever it can be had), which /proc/device-tree would say on real hardware.
export BEDSIDE_ASSUME_PI=1

echo "== make install (README step 3: it runs scripts/install.sh with sudo)"
started=$(date +%s)
chroot "$root" /bin/bash -c "cd /home/pi/bedside && ./scripts/install.sh"
echo "   took $(( $(date +%s) - started )) s"

echo "== what it left"
failures=0
expect() {  # expect DESCRIPTION COMMAND...
  local what=$1; shift
  if chroot "$root" /bin/bash -c "$*" >/dev/null 2>&1; then echo "ok   $what"; else echo "FAIL $what"; failures=$((failures + 1)); fi
}
mode() { chroot "$root" stat -c '%a %U:%G' "$1"; }
expect "user bedside exists, no login shell" 'getent passwd bedside | grep -q nologin'
for group in audio gpio spi; do
  expect "bedside is in group $group" "id -nG bedside | tr ' ' '\n' | grep -qx $group"
done
expect "venv runs bedside" '/opt/bedside/venv/bin/bedside --version'
expect "bedside is installed as bytecode (the service cannot write it)" '/opt/bedside/venv/bin/python -c "import importlib.util, pathlib, bedside.daemon as m; assert pathlib.Path(importlib.util.cache_from_source(m.__file__)).is_file()"'
expect "the service user can read its config" 'runuser -u bedside -- /opt/bedside/venv/bin/bedside check-config /etc/bedside/bedside.toml'
expect "other users cannot read the config" '! runuser -u nobody -- cat /etc/bedside/bedside.toml'
expect "unit installed with a writable lgpio directory" 'grep -q "^WorkingDirectory=/run/bedside" /etc/systemd/system/bedside.service'
expect "lgpio importable in the service's venv (from PyPI: Debian has no python3-lgpio)" '/opt/bedside/venv/bin/python -c "import lgpio"'
expect "nothing in pi's clone belongs to root after make install" '[ -z "$(find /home/pi/bedside -user root -print -quit)" ]'
expect "the README and hardware.md the unit points to are installed" '[ -r /opt/bedside/README.md ] && [ -r /opt/bedside/hardware.md ]'
for check in "/etc/bedside 750 root:bedside" "/etc/bedside/bedside.toml 640 root:bedside" \
             "/etc/bedside/mqtt-password 640 root:bedside"; do
  set -- $check
  got=$(mode "$1")
  if [ "$got" = "$2 $3" ]; then echo "ok   $1 is $got"; else echo "FAIL $1 is $got, not $2 $3"; failures=$((failures + 1)); fi
done
echo "== running it again keeps the config and stays quiet"
chroot "$root" /bin/bash -c "echo '# a user edit' >> /etc/bedside/bedside.toml"
second=$(chroot "$root" /bin/bash -c "cd /home/pi/bedside && ./scripts/install.sh" 2>&1) || true
if grep -q "kept the existing" <<<"$second" && grep -q "a user edit" "$root/etc/bedside/bedside.toml" \
   && [ "$(mode /etc/bedside/bedside.toml)" = "640 root:bedside" ]; then
  echo "ok   second run kept the edited config, 0640"
else
  echo "FAIL second run: $second" | tail -5; failures=$((failures + 1))
fi
echo "== as pi: README step 4 and a first try"
doctor=$(as_pi "/opt/bedside/venv/bin/bedside doctor" 2>&1) || true
echo "$doctor" | sed 's/^/   /'
if ! grep -q Traceback <<<"$doctor" && grep -q "cannot read config /etc/bedside/bedside.toml: permission denied" <<<"$doctor" \
   && grep -q "adduser pi bedside" <<<"$doctor" && grep -q "lgpio: from PyPI" <<<"$doctor"; then
  echo "ok   doctor as pi: no traceback, names the file, the group to join, and where lgpio comes from"
else
  echo "FAIL doctor as pi"; failures=$((failures + 1))
fi
sounds=$(as_pi "/opt/bedside/venv/bin/bedside sounds" 2>&1) && code=0 || code=$?
if [ "$code" -eq 78 ] && [ "$(wc -l <<<"$sounds")" -eq 1 ] && grep -q "adduser pi bedside" <<<"$sounds"; then
  echo "ok   'bedside sounds' as pi: one line, exit 78: $sounds"
else
  echo "FAIL 'bedside sounds' as pi (exit $code): $sounds"; failures=$((failures + 1))
fi
expect "check-config of the example as pi" 'su - pi -c "/opt/bedside/venv/bin/bedside check-config /home/pi/bedside/config/bedside.toml"'
cat > "$root/home/pi/null.toml" <<CONF
[audio]
device = "null"
[state]
directory = "/home/pi/state"
resume_on_boot = true
CONF
mkdir -p "$root/home/pi/state"
echo '{"sound": "rain", "volume": 40, "playing": true}' > "$root/home/pi/state/state.json"
chroot "$root" chown -R pi:pi /home/pi/null.toml /home/pi/state
started=$(date +%s.%N)
if as_pi "/opt/bedside/venv/bin/bedside --config /home/pi/null.toml render rain --seconds 10 -o /tmp/rain.wav" >/dev/null; then
  echo "ok   10 s render of rain as pi: $(echo "$(date +%s.%N) - $started" | bc) s (under emulation when ARCH differs)"
else
  echo "FAIL render as pi"; failures=$((failures + 1))
fi
run=$(as_pi "timeout -s TERM 20 /opt/bedside/venv/bin/bedside --config /home/pi/null.toml run --simulate-pins" 2>&1) || true
if grep -q "ready in" <<<"$run" && grep -q "stopped after" <<<"$run" && ! grep -q Traceback <<<"$run"; then
  echo "ok   20 s of bedside run on null as pi: $(grep -o 'ready in [0-9.]* s' <<<"$run"); $(grep -o 'stopped after.*' <<<"$run")"
else
  echo "FAIL run as pi: $(tail -5 <<<"$run")"; failures=$((failures + 1))
fi
echo "== as pi: the clone's own venv (the first step of make run and make test)"
if as_pi "make .venv/bin/bedside" >/dev/null 2>&1 && as_pi ".venv/bin/bedside --version" >/dev/null; then
  echo "ok   make builds pi's venv in the same clone after make install"
else
  echo "FAIL pi's make in the clone"; failures=$((failures + 1))
fi
expect "make clean leaves no build artefact" 'su - pi -c "cd /home/pi/bedside && make clean" && [ -z "$(find /home/pi/bedside -name "*.egg-info" -o -name build -o -name __pycache__ | head -1)" ]'
[ "$failures" -eq 0 ] && echo "install-test: all checks passed ($arch)" || { echo "install-test: $failures failed"; exit 1; }
