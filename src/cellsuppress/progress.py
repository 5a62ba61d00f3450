"""Progress lines on stderr, ``[   12.3 s] message``: the time since the run started, then what
it is doing."""
from __future__ import annotations

import sys
import time

__all__ = ["Progress", "EVERY"]

EVERY = 2.0  # seconds between progress lines: often enough to show life, rarely enough to read


class Progress:
    """``say(msg)`` prints a line when :data:`EVERY` seconds have passed since the last one,
    ``say(msg, force=True)`` at once. ``quiet_for``: no line at all in the first seconds, so
    that a quick run prints nothing. Not ``enabled``: nothing."""

    def __init__(self, enabled: bool = True, quiet_for: float = 0.0):
        self.enabled = enabled
        self.quiet_for = quiet_for
        self.t0 = self.last = time.perf_counter()

    def __call__(self, msg: str, force: bool = False) -> None:
        now = time.perf_counter()
        if self.enabled and (force or now - self.last >= EVERY) and now - self.t0 >= self.quiet_for:
            self.last = now
            print(f"[{now - self.t0:7.1f} s] {msg}", file=sys.stderr, flush=True)
