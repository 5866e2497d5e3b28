"""What the appliance remembers across restarts: last sound, volume, timer preset, and whether it
was playing (for ``resume_on_boot``).

Written atomically (a temporary file, fsync, rename), so a power cut mid-write leaves the old file.
A missing file means defaults; anything else that is not a valid state (deep nesting, a huge or binary
file, a FIFO, absurd values) means defaults, one warning naming the file, and the file moved aside to
``state.json.bad`` at start: under ``Restart=on-failure`` a traceback would be a crash loop, and a bad
file left in place would be warned about at every boot.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from bedside.events import Snapshot
from bedside.schedule import parse_hhmm

log = logging.getLogger(__name__)

FILENAME = "state.json"
TEMP_PREFIX = ".state-"
BAD_SUFFIX = ".bad"
#: A valid state file is under 400 bytes; anything much larger is not one (and is not read whole).
MAX_BYTES = 64 * 1024


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
        """The saved state, read at start: leftovers of a save cut short are removed, and a bad file
        is moved aside (so the next start neither trips on it nor warns again)."""
        self._remove_leftovers()
        saved, problem = self._parse()
        if problem:
            bad = self.path.with_name(self.path.name + BAD_SUFFIX)
            try:
                os.replace(self.path, bad)
                where = f"moved to {bad}"
            except OSError as error:
                where = f"cannot move it aside: {error.strerror}"
            log.warning("state file %s %s: starting from defaults (%s)", self.path, problem, where)
        return saved

    def read(self) -> SavedState:
        """The saved state, touching nothing (for ``bedside schedule`` beside a running daemon)."""
        saved, problem = self._parse()
        if problem:
            log.warning("state file %s %s: starting from defaults", self.path, problem)
        return saved

    def _parse(self) -> tuple[SavedState, str]:
        """The state and, if the file is there but is no state, what is wrong with it."""
        try:
            text = _read_small(self.path)
        except FileNotFoundError:
            return SavedState(), ""
        except OSError as error:
            return SavedState(), f"is unreadable ({error.strerror or error})"
        except ValueError as error:
            return SavedState(), f"is unreadable ({error})"
        try:
            data = json.loads(text)
        except RecursionError:
            return SavedState(), "is invalid (nested too deeply)"
        except ValueError as error:
            return SavedState(), f"is invalid ({error})"
        try:
            return _validated(data), ""
        except (TypeError, ValueError) as error:
            return SavedState(), f"is invalid ({error})"

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


def _read_small(path: Path) -> str:
    """The text of a regular file of at most MAX_BYTES: a FIFO or a device put in its place must
    not block the start or fill the memory (ValueError: it is not a small UTF-8 text file)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        data = b""
        while len(data) <= MAX_BYTES and (more := os.read(fd, MAX_BYTES + 1 - len(data))):
            data += more
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise ValueError(f"larger than {MAX_BYTES // 1024} KiB")
    return data.decode("utf-8")  # UnicodeDecodeError is a ValueError


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


class StateWriter:
    """Saves the state file on its own thread, a second after a change (a knob turn makes dozens
    of changes; an SD card should see one write) — but a start or a stop at once: with
    ``resume_on_boot``, a power cut just after pressing stop must not bring the sound back."""

    DELAY_S = 1.0

    def __init__(self, store: StateStore, playing: bool = False) -> None:
        self._store = store
        self._pending: SavedState | None = None
        self._playing = playing  # as on disk, or as last handed to the thread
        self._urgent = False
        self._changed = threading.Condition()
        self._closing = False
        #: Set at shutdown: the shutdown fade is not the user stopping the sound, and a reboot
        #: while playing should resume (with resume_on_boot) as it was.
        self.frozen = False
        self._thread = threading.Thread(target=self._run, name="state", daemon=True)
        self._thread.start()

    def on_state(self, snapshot: Snapshot) -> None:
        if self.frozen:
            return
        state = snapshot.state
        saved = SavedState(state.sound, state.volume, state.timer_min, state.playing, state.wake_enabled,
                              state.wake_at, state.schedule_handled)
        with self._changed:
            self._pending = saved
            if saved.playing != self._playing:
                self._urgent = True
            self._playing = saved.playing
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._pending is None and not self._closing:
                    self._changed.wait()
                if self._pending is None:
                    return
                self._changed.wait_for(lambda: self._closing or self._urgent, timeout=self.DELAY_S)
                snapshot, self._pending, self._urgent = self._pending, None, False
            self._store.save(snapshot)

    def close(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify()
        self._thread.join(timeout=5)
