#!/usr/bin/env bash
# Installs the Debian / Raspberry Pi OS packages bedside needs, only if any is missing.
#   runtime: python3-venv, the ALSA library and headers (pyalsaaudio builds against them), libsndfile,
#   tzdata (the schedules follow the local time zone through summer time, with zoneinfo)
#   tests and benchmarks: sox (the baseline the benchmarks compare against), systemd-analyze,
#   mosquitto (a real broker the tests start on a free loopback port), openssl (a throwaway CA),
#   PulseAudio with ALSA's pulse plugin (a clocked sound device without a sound card: a private
#   daemon with a null sink, recorded with parec), Chromium (the page is tested in a real browser,
#   driven by Playwright from the venv; no browser is downloaded)
set -euo pipefail
packages=(python3 python3-venv python3-dev gcc libasound2 libasound2-dev alsa-utils libsndfile1 tzdata)
if [ "${1:-}" = "--test" ]; then
  packages+=(sox systemd mosquitto mosquitto-clients openssl pulseaudio pulseaudio-utils libasound2-plugins chromium)
fi
# On a Raspberry Pi, gpiozero drives the pins through lgpio, which comes from the Pi's Debian
# archive (the venv sees it through --system-site-packages). numpy and soundfile come from Debian
# too: PyPI has no armhf wheels, so pip would build numpy from source for an hour on a Zero 2 W;
# with --system-site-packages pip keeps Debian's (bookworm: numpy 1.24, soundfile 0.12).
if grep -qs "Raspberry Pi" /proc/device-tree/model; then packages+=(python3-lgpio python3-numpy python3-soundfile); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
