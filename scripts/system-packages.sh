#!/usr/bin/env bash
# Installs the Debian / Raspberry Pi OS packages bedside needs, only if any is missing.
#   runtime: python3-venv, the ALSA library and headers (pyalsaaudio builds against them), libsndfile,
#   tzdata (the schedules follow the local time zone through summer time, with zoneinfo)
#   tests and benchmarks: sox (the baseline the benchmarks compare against), systemd-analyze,
#   mosquitto (a real broker the tests start on a free loopback port), openssl (a throwaway CA),
#   PulseAudio with ALSA's pulse plugin (a clocked sound device without a sound card: a private
#   daemon with a null sink, recorded with parec), Chromium (the page is tested in a real browser,
#   driven by Playwright from the venv; no browser is downloaded), gresource (libglib2.0-bin: `make
#   references` takes Blanket's field recordings out of its GResource bundle)
set -euo pipefail
packages=(python3 python3-venv python3-dev gcc libasound2 libasound2-dev alsa-utils libsndfile1 tzdata)
if [ "${1:-}" = "--test" ]; then
  packages+=(sox systemd mosquitto mosquitto-clients openssl pulseaudio pulseaudio-utils libasound2-plugins chromium libglib2.0-bin)
fi
# On a Raspberry Pi, numpy and soundfile come from Debian: PyPI has no armhf wheels, so pip would
# build numpy from source for an hour on a Zero 2 W; with --system-site-packages pip keeps Debian's
# (bookworm: numpy 1.24, soundfile 0.12). gpiozero drives the pins through lgpio: Raspberry Pi OS's
# archive has python3-lgpio, plain Debian's does not (then scripts/gpio-library.sh puts lgpio from
# PyPI into the venv).
on_pi=""; grep -qs "Raspberry Pi" /proc/device-tree/model || [ -n "${BEDSIDE_ASSUME_PI:-}" ] && on_pi=1
if [ -n "$on_pi" ]; then packages+=(python3-numpy python3-soundfile); fi
has_candidate() { apt-cache policy "$1" 2>/dev/null | grep -q "Candidate: [0-9]"; }
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ -n "$on_pi" ] && ! dpkg-query -W -f='${Status}' python3-lgpio 2>/dev/null | grep -q "install ok installed"; then
  has_candidate python3-lgpio || $sudo apt-get update -q >/dev/null || true
  if has_candidate python3-lgpio; then packages+=(python3-lgpio); fi
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
