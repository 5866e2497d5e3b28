#!/usr/bin/env bash
# On a Raspberry Pi, gpiozero drives the pins through lgpio. Raspberry Pi OS packages it
# (python3-lgpio, which scripts/system-packages.sh installs and the venv sees through
# --system-site-packages); plain Debian does not, so there it comes from PyPI into the venv
# (self-contained wheels for 64-bit and 32-bit ARM). `bedside doctor` says which one is in use.
#   usage: scripts/gpio-library.sh VENV
set -euo pipefail
venv=$1
grep -qs "Raspberry Pi" /proc/device-tree/model || [ -n "${BEDSIDE_ASSUME_PI:-}" ] || exit 0
"$venv/bin/python" -c "import lgpio" 2>/dev/null && exit 0
echo "lgpio: not in this distribution's packages; installing it from PyPI into $venv"
"$venv/bin/pip" install -q lgpio
