"""How a config key is declared, once: its default, what it means, what it allows.

:mod:`bedside.config` declares the tables' keys and :class:`bedside.schedule.Entry` the
``[[schedule]]`` keys with :func:`setting`; validation, ``check-config``'s messages and the example
config's comments are all made from these declarations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from typing import Any

Check = Callable[[Any], str | None]  # returns what is allowed, if the value is not


class Between:
    """A check: ``low <= value <= high`` (the example config's comment must name both)."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def __call__(self, value: Any) -> str | None:
        return None if self.low <= value <= self.high else f"must be between {self.low} and {self.high}"


class OneOf:
    """A check: one of ``choices`` (the example config's comment must name each)."""

    def __init__(self, *choices: Any) -> None:
        self.choices = choices

    def __call__(self, value: Any) -> str | None:
        return None if value in self.choices else f"must be one of {', '.join(map(repr, self.choices))}"


def setting(default: Any, doc: str, check: Check | None = None, kind: Any = None,
            actions: tuple[str, ...] = ()) -> Any:
    """One config key, declared once: its default, what it means (the example config's comment,
    ``\\n`` for a new line there), what it allows, and for a ``[[schedule]]`` key the actions that
    take it. Validation, ``check-config``'s messages and ``config/bedside.toml`` come from here."""
    return field(default=default, metadata={"doc": doc, "check": check, "kind": kind or type(default),
                                            "actions": actions})
