"""Waiting for something that happens asynchronously: poll until true or a deadline, then fail."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], object], *, timeout: float, message: str = "condition", interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def eventually(
    read: Callable[[], T],
    done: Callable[[T], bool],
    timeout: float = 60.0,
    what: str = "condition",
    interval: float = 0.2,
) -> T:
    """`read()` again until `done(value)`; returns that value, or fails showing the last one."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last value: {value!r}")
        time.sleep(interval)
