"""The wall clock, its time zone, and whether it can be trusted.

Schedules are the only part of bedside that reads the wall clock (fades run on the sample clock).
A Raspberry Pi has no real-time clock: it boots with the time it last saved and jumps when NTP
answers. So the scheduler asks :meth:`SystemClock.synced` first, and tests pass a clock of their own.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: systemd-timesyncd creates this once it has synchronised the clock (and removes it at boot).
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
#: The kernel's NTP status, as timedatectl's NTPSynchronized reads it: not STA_UNSYNC and an
#: error bound under 16 s (chrony and ntpd keep it; timesyncd too).
_STA_UNSYNC = 0x0040
_MAX_ERROR_US = 16_000_000


class Clock(Protocol):
    zone: ZoneInfo

    def now(self) -> datetime:
        """Aware, UTC."""
        ...

    def synced(self) -> bool: ...


class _Timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("_rest", ctypes.c_char * 256)]


def kernel_ntp_synced() -> bool:
    """The kernel's word on NTP (``adjtimex`` with no change requested); False if it cannot say."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        timex = _Timex()
        if libc.adjtimex(ctypes.byref(timex)) < 0:
            return False
    except (OSError, AttributeError):
        return False
    return not timex.status & _STA_UNSYNC and timex.maxerror < _MAX_ERROR_US


def timedated_synced() -> bool | None:
    """systemd-timedated's NTPSynchronized (what ``timedatectl`` shows); None if it cannot say."""
    try:
        result = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"], capture_output=True,
                                text=True, timeout=3, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    answer = result.stdout.strip()
    return {"yes": True, "no": False}.get(answer) if result.returncode == 0 else None


def under_systemd() -> bool:
    return bool(os.environ.get("INVOCATION_ID") or os.environ.get("NOTIFY_SOCKET"))


def clock_synced(flag: Path = TIMESYNC_FLAG) -> bool:
    """timesyncd's flag; else, as a service, timedated's answer — the unit's ProtectClock= forbids
    even reading the kernel's NTP state (adjtimex), so that is asked only outside systemd."""
    if flag.exists():
        return True
    if under_systemd():
        return bool(timedated_synced())
    return kernel_ntp_synced()


def system_zone(configured: str = "") -> ZoneInfo:
    """``[clock] timezone``, else ``$TZ``, else the system's zone (/etc/timezone, /etc/localtime),
    else UTC. A named zone, not a fixed offset: the schedule must follow DST."""
    candidates = [configured, os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    try:
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError):
        return ZoneInfo("UTC")


class SystemClock:
    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def now(self) -> datetime:
        return datetime.now(UTC)

    def synced(self) -> bool:
        return clock_synced()
