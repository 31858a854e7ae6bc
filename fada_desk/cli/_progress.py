"""Plain stderr progress for CLI commands (no extra dependencies).

On a terminal: one line redrawn in place (``\\r``). Otherwise (logs, CI):
a new line only when the message changes, so logs stay readable.
"""

from __future__ import annotations

import sys
from typing import TextIO


class ProgressLine:
    def __init__(self, stream: TextIO | None = None, width: int = 24) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = width
        self._last = ""
        self._len = 0

    def update(self, message: str, fraction: float | None = None, prefix: str = "") -> None:
        bar = ""
        if fraction is not None:
            f = min(max(fraction, 0.0), 1.0)
            n = round(f * self.width)
            bar = f"[{'#' * n}{'.' * (self.width - n)}] {f * 100:3.0f}% "
        line = f"{prefix}{bar}{message}"
        if self.tty:
            pad = max(0, self._len - len(line))
            self.stream.write("\r" + line + " " * pad)
            self.stream.flush()
            self._len = len(line)
        elif message != self._last:
            self.stream.write(line + "\n")
            self.stream.flush()
        self._last = message

    def done(self, message: str = "") -> None:
        if self.tty and self._len:
            self.stream.write("\r" + " " * self._len + "\r")
        if message:
            self.stream.write(message + "\n")
        self.stream.flush()
        self._len = 0
        self._last = ""
