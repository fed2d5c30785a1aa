"""Progress of a long pass: count, rate and ETA, and a bar for stderr."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO


@dataclass
class ProgressState:
    done: int
    total: int
    elapsed: float

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        if not self.rate or self.total <= self.done:
            return 0.0 if self.total and self.done >= self.total else None
        return (self.total - self.done) / self.rate

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 1.0

    def text(self, label: str = "") -> str:
        eta = self.eta
        eta_text = "--" if eta is None else format_seconds(eta)
        head = f"{label} " if label else ""
        return f"{head}{self.done}/{self.total} · {self.rate:.1f}/s · ETA {eta_text}"


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class ProgressTracker:
    """Turns (done, total) callbacks into ProgressState; call it as the engine's progress callback."""

    def __init__(self, on_update=None):
        self.start = time.monotonic()
        self.state = ProgressState(0, 0, 0.0)
        self.on_update = on_update

    def __call__(self, done: int, total: int) -> None:
        self.state = ProgressState(done, total, time.monotonic() - self.start)
        if self.on_update:
            self.on_update(self.state)


class StderrBar(ProgressTracker):
    """A one-line bar on stderr, redrawn at most 10 times a second; silent when total is small."""

    def __init__(self, label: str, stream: TextIO | None = None, min_total: int = 2):
        super().__init__()
        self.label = label
        self.stream = stream or sys.stderr
        self.min_total = min_total
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        super().__call__(done, total)
        if total < self.min_total:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        s = self.state
        width = 24
        filled = int(width * s.fraction)
        bar = "#" * filled + "-" * (width - filled)
        end = "\n" if done >= total else ""
        self.stream.write(f"\r{self.label} [{bar}] {s.text()}{end}")
        self.stream.flush()
