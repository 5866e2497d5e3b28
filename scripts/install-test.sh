#!/usr/bin/env bash
# `make install-test`: runs scripts/install.sh in a throw-away Debian bookworm chroot (what a fresh
# Raspberry Pi OS Lite is underneath) and checks what it left: packages, the service user and its
# groups, the venv, the config and password file with their owners and modes, and check-config as
# the service user. Steps that need a running systemd are skipped by install.sh (PID 1 here is not
# systemd). Not part of CI: it downloads a Debian base system (~300 MB) and takes minutes.
#   ARCH=arm64 make install-test   the same for a 64-bit Pi, if qemu-user-static is installed
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
if ! debootstrap --arch="$arch" --variant=minbase --include=ca-certificates,python3,sudo bookworm "$root" \
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
mkdir -p "$root/root/bedside"
git ls-files -z | xargs -0 tar -cf - | tar -xf - -C "$root/root/bedside"

echo "== scripts/install.sh in the chroot"
chroot "$root" /bin/bash -c "cd /root/bedside && ./scripts/install.sh"

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
expect "the service user can read its config" 'runuser -u bedside -- /opt/bedside/venv/bin/bedside check-config /etc/bedside/bedside.toml'
expect "other users cannot read the config" '! runuser -u nobody -- cat /etc/bedside/bedside.toml'
expect "unit installed with a writable lgpio directory" 'grep -q "^WorkingDirectory=/run/bedside" /etc/systemd/system/bedside.service'
for check in "/etc/bedside 750 root:bedside" "/etc/bedside/bedside.toml 640 root:bedside" \
             "/etc/bedside/mqtt-password 640 root:bedside"; do
  set -- $check
  got=$(mode "$1")
  if [ "$got" = "$2 $3" ]; then echo "ok   $1 is $got"; else echo "FAIL $1 is $got, not $2 $3"; failures=$((failures + 1)); fi
done
echo "== running it again keeps the config and stays quiet"
chroot "$root" /bin/bash -c "echo '# a user edit' >> /etc/bedside/bedside.toml"
second=$(chroot "$root" /bin/bash -c "cd /root/bedside && ./scripts/install.sh" 2>&1) || true
if grep -q "kept the existing" <<<"$second" && grep -q "a user edit" "$root/etc/bedside/bedside.toml" \
   && [ "$(mode /etc/bedside/bedside.toml)" = "640 root:bedside" ]; then
  echo "ok   second run kept the edited config, 0640"
else
  echo "FAIL second run: $second" | tail -5; failures=$((failures + 1))
fi
[ "$failures" -eq 0 ] && echo "install-test: all checks passed ($arch)" || { echo "install-test: $failures failed"; exit 1; }
