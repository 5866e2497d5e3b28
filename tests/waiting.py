"""Waiting for something another thread (or process) will do, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 5.0, what: Callable[[], str] | str = "condition",
               poll: float = 0.002) -> T:
    """The first truthy value of ``condition()``, or AssertionError (saying ``what``) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
