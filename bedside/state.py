"""What the appliance remembers across restarts: last sound, volume, timer preset, and whether it
was playing (for ``resume_on_boot``).

Written atomically (a temporary file, fsync, rename), so a power cut mid-write leaves the old file.
A missing file means defaults; a corrupt one means defaults and a warning, never a crash.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from bedside.schedule import parse_hhmm

log = logging.getLogger(__name__)

FILENAME = "state.json"
TEMP_PREFIX = ".state-"


@dataclass(frozen=True)
class SavedState:
    sound: str | None = None
    volume: int | None = None
    timer_min: float = 0.0  # the timer preset, 0 = off
    playing: bool = False
    wake_enabled: bool | None = None  # Home Assistant's wake-up switch; None: as the config says
    wake_at: str | None = None  # Home Assistant's wake time "HH:MM"; None: the config's
    schedule_handled: float | None = None  # the last scheduled event handled (UTC epoch seconds)


def state_directory(configured: str = "") -> Path:
    """The configured directory, else systemd's ``$STATE_DIRECTORY``, else the XDG state home."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "bedside"


class StateStore:
    def __init__(self, directory: Path) -> None:
        self.path = directory / FILENAME

    def load(self) -> SavedState:
        """The saved state (read at start, so leftovers of a save cut short are removed here)."""
        self._remove_leftovers()
        return self.read()

    def read(self) -> SavedState:
        """The saved state, touching nothing (for ``bedside schedule`` beside a running daemon)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return SavedState()
        except (OSError, ValueError) as error:
            log.warning("state file %s is unreadable (%s): starting from defaults", self.path, error)
            return SavedState()
        try:
            return _validated(data)
        except (TypeError, ValueError) as error:
            log.warning("state file %s is invalid (%s): starting from defaults", self.path, error)
            return SavedState()

    def _remove_leftovers(self) -> None:
        """Temporary files of a save that a kill or a power cut interrupted: nothing else removes them."""
        try:
            leftovers = list(self.path.parent.glob(f"{TEMP_PREFIX}*"))
        except OSError:
            return
        for leftover in leftovers:
            try:
                leftover.unlink()
            except OSError as error:
                log.warning("cannot remove %s: %s", leftover, error.strerror)

    def save(self, state: SavedState) -> None:
        """Write atomically; a failure is logged, not raised: losing a preference beats stopping."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=self.path.parent, prefix=TEMP_PREFIX, delete=False,
                                             encoding="utf-8") as f:
                json.dump(asdict(state), f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(f.name, self.path)
        except OSError as error:
            log.warning("cannot save state to %s: %s", self.path, error)


def _validated(data: object) -> SavedState:
    if not isinstance(data, dict):
        raise TypeError("not a JSON object")
    sound, volume = data.get("sound"), data.get("volume")
    timer, playing = data.get("timer_min", 0.0), data.get("playing", False)
    if sound is not None and not isinstance(sound, str):
        raise TypeError("sound is not a string")
    if volume is not None and (not isinstance(volume, int) or isinstance(volume, bool) or not 0 <= volume <= 100):
        raise ValueError("volume is not 0-100")
    if not isinstance(timer, int | float) or isinstance(timer, bool) or not 0 <= timer <= 1440:
        raise ValueError("timer_min is not 0-1440")
    if not isinstance(playing, bool):
        raise TypeError("playing is not true/false")
    wake_enabled, wake_at = data.get("wake_enabled"), data.get("wake_at")
    handled = data.get("schedule_handled")
    if wake_enabled is not None and not isinstance(wake_enabled, bool):
        raise TypeError("wake_enabled is not true/false")
    if wake_at is not None:
        parse_hhmm(wake_at)  # ValueError
    if handled is not None and (not isinstance(handled, int | float) or isinstance(handled, bool)
                                or not 0 <= handled < 1e11):
        raise ValueError("schedule_handled is not a time")
    return SavedState(sound, volume, float(timer), playing, wake_enabled, wake_at,
                      None if handled is None else float(handled))
