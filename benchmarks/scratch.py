"""Scratch directories that go away when the benchmark ends (an hour's pass made dozens, and each
Pi-share run a 34 MB monitor recording, left in /tmp before)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def scratch(prefix: str = "bedside-bench-") -> Path:
    """A new empty directory, removed with all it holds when this process exits."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path
