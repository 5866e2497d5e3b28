"""Test configs leave the page off unless the test is about it.

The page listens on 127.0.0.1:8080 by default; a daemon in a test that is not about the page must
not take that port from (or fail for) a `bedside run` on the same machine, or another test's.
"""

from __future__ import annotations


def pageless(extra: str) -> str:
    """``extra`` config text, with ``[web] enabled = false`` unless it sets up the page itself."""
    return extra if "[web]" in extra else f"{extra}\n[web]\nenabled = false\n"
