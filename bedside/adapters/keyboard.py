"""Keys for the controls when there is no GPIO: anyone can try the appliance on a laptop.

space = play/stop, n = next sound, p = previous, t = timer, f = next profile, + / - or the arrow keys = the volume
knob, q = quit. Runs on its own thread and only submits commands.
"""

from __future__ import annotations

import os
import select
import sys
import termios
import threading
import tty
from collections.abc import Callable

from bedside.commands import Command, NextProfile, NextSound, StepTimer, StepVolume, TogglePlay

HELP = "keys: space play/stop, n next sound, p previous, t timer, f next profile, +/- or arrows volume, q quit"

KEYS: dict[bytes, Command] = {
    b" ": TogglePlay(), b"n": NextSound(1), b"p": NextSound(-1), b"t": StepTimer(), b"f": NextProfile(),
    b"+": StepVolume(1), b"=": StepVolume(1), b"-": StepVolume(-1),
    b"\x1b[A": StepVolume(1), b"\x1b[C": StepVolume(1), b"\x1b[B": StepVolume(-1), b"\x1b[D": StepVolume(-1),
}


class Keyboard:
    def __init__(self, submit: Callable[[Command], None], quit: Callable[[], None]) -> None:
        self._submit, self._quit = submit, quit
        self._fd = sys.stdin.fileno()
        self._saved = termios.tcgetattr(self._fd)
        tty.setcbreak(self._fd)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keyboard", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.2)
            if not ready:
                continue
            data = os.read(self._fd, 8)
            if data in (b"q", b"Q"):
                self._quit()
            elif data in KEYS:
                self._submit(KEYS[data])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
