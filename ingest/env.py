"""Numeric settings from the environment, checked (one place for the rule and its message)."""

from __future__ import annotations

import os


def positive_number(name: str, default: float) -> float:
    """The positive number in env `name`, `default` when unset; ValueError (one line) otherwise."""
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be more than 0, not {text!r}")
    return value
