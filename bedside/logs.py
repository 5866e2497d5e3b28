"""Log lines that an attacker cannot turn into a flood.

A broker client can send thousands of bad messages a second; each deserves a line, but the
journal (on an SD card) must not fill up. :class:`RateLimitedLog` lets a few lines a minute
through and then says how many it held back.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import queue
import time
from collections.abc import Callable, Iterator

#: No log line or error message is longer than this: a hostile value (a 10 MB device name) must not
#: fill the journal through a message that quotes it.
MAX_LINE_CHARS = 2000


def bounded(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """``text``, cut to ``limit`` characters with a note of its length."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


class BoundedLines(logging.Filter):
    """Cuts every record's message to :data:`MAX_LINE_CHARS` (install it on the handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > MAX_LINE_CHARS:
            record.msg, record.args = bounded(message), ()
        return True


class RateLimitedLog:
    """At most ``per_minute`` warnings a minute; the next line after a quiet spell counts the rest."""

    def __init__(self, logger: logging.Logger, per_minute: int = 10,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log, self._limit, self._clock = logger, per_minute, clock
        self._window_start = -1e18
        self._lines = 0
        self.held_back = 0  # lines not written in the current window

    def warning(self, message: str, *args: object) -> None:
        now = self._clock()
        if now - self._window_start >= 60.0:
            if self.held_back:
                self._log.warning("(%d more like the above in the last minute, not logged)", self.held_back)
            self._window_start, self._lines, self.held_back = now, 0, 0
        if self._lines < self._limit:
            self._lines += 1
            self._log.warning(message, *args)
        else:
            self.held_back += 1


@contextlib.contextmanager
def queued() -> Iterator[None]:
    """While it lasts, a log call only formats its line and queues it: a thread of its own writes
    it. The audio thread may log (an underrun, a refused command) without ever waiting on stderr or
    the journal. The handlers are put back, and every queued line written, at the end."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    writer = logging.handlers.QueueListener(lines, *handlers, respect_handler_level=True)
    for handler in handlers:
        root.removeHandler(handler)
    into_queue = logging.handlers.QueueHandler(lines)
    root.addHandler(into_queue)
    writer.start()
    try:
        yield
    finally:
        root.removeHandler(into_queue)
        writer.stop()
        for handler in handlers:
            root.addHandler(handler)
