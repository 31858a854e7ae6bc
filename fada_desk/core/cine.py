"""Cine buffer: the last few seconds of frames, for review after freeze and "save clip".

Bounded by *both* a time span and a byte budget: a 1080p RGB stream is
~6 MB a frame, so 10 s at 60 fps would need 3.7 GB; the byte cap keeps a
laptop from swapping while the time cap keeps small grey streams sensible.
The newest frame is always kept, even when it alone exceeds the byte cap.

Frames are shared, not copied (``Frame.pixels`` is read-only). Each entry has
an absolute, ever-increasing sequence number so a consumer can tell whether
the buffer moved under it; indices (0 = oldest) are what a scrub slider uses.
Thread-safe: the pump thread appends, the GUI/worker threads read.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from fada_desk.core.frame import Frame

DEFAULT_SECONDS = 10.0
DEFAULT_MAX_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class CineEntry:
    """One buffered frame. ``arrival`` is the clock time when it was appended."""

    seq: int
    frame: Frame
    arrival: float

    @property
    def nbytes(self) -> int:
        return int(self.frame.pixels.nbytes)


class CineBuffer:
    """Ring of the most recent frames, bounded by seconds and bytes."""

    def __init__(self, max_seconds: float = DEFAULT_SECONDS, max_bytes: int = DEFAULT_MAX_BYTES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not max_seconds > 0:
            raise ValueError("max_seconds must be positive")
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self._max_seconds = float(max_seconds)
        self._max_bytes = int(max_bytes)
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: deque[CineEntry] = deque()
        self._bytes = 0
        self._next_seq = 0
        self._evicted = 0

    # -- configuration -------------------------------------------------------------------------
    @property
    def max_seconds(self) -> float:
        return self._max_seconds

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    def set_limits(self, max_seconds: float | None = None, max_bytes: int | None = None) -> None:
        with self._lock:
            if max_seconds is not None:
                if not max_seconds > 0:
                    raise ValueError("max_seconds must be positive")
                self._max_seconds = float(max_seconds)
            if max_bytes is not None:
                if max_bytes <= 0:
                    raise ValueError("max_bytes must be positive")
                self._max_bytes = int(max_bytes)
            self._evict_locked()

    # -- writing -------------------------------------------------------------------------------
    def append(self, frame: Frame, arrival: float | None = None) -> int:
        """Add ``frame`` as the newest entry; returns its sequence number."""
        t = self._clock() if arrival is None else float(arrival)
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            entry = CineEntry(seq, frame, t)
            self._entries.append(entry)
            self._bytes += entry.nbytes
            self._evict_locked()
            return seq

    def clear(self) -> None:
        with self._lock:
            self._evicted += len(self._entries)
            self._entries.clear()
            self._bytes = 0

    def _evict_locked(self) -> None:
        entries = self._entries
        if not entries:
            return
        newest = entries[-1].arrival
        while len(entries) > 1 and (self._bytes > self._max_bytes
                                    or newest - entries[0].arrival > self._max_seconds):
            old = entries.popleft()
            self._bytes -= old.nbytes
            self._evicted += 1

    # -- reading -------------------------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._bytes

    @property
    def evicted(self) -> int:
        """Frames pushed out by the limits (or clear()) so far."""
        with self._lock:
            return self._evicted

    @property
    def first_seq(self) -> int:
        """Sequence number of index 0 (== next seq when empty)."""
        with self._lock:
            return self._entries[0].seq if self._entries else self._next_seq

    @property
    def duration(self) -> float:
        """Seconds between the oldest and the newest arrival."""
        with self._lock:
            if len(self._entries) < 2:
                return 0.0
            return self._entries[-1].arrival - self._entries[0].arrival

    def entry(self, index: int) -> CineEntry:
        """Entry at ``index`` (0 = oldest, negative from the newest). IndexError if out of range."""
        with self._lock:
            n = len(self._entries)
            if not -n <= index < n:
                raise IndexError(f"cine index {index} out of range (0..{n - 1})")
            return self._entries[index]

    def get(self, index: int) -> Frame:
        return self.entry(index).frame

    def index_of_seq(self, seq: int) -> int | None:
        """Current index of the entry with sequence ``seq``, or None when evicted / unknown."""
        with self._lock:
            if not self._entries:
                return None
            i = seq - self._entries[0].seq
            return i if 0 <= i < len(self._entries) else None

    def snapshot(self) -> list[CineEntry]:
        """All entries, oldest first (a consistent copy of the list, frames shared)."""
        with self._lock:
            return list(self._entries)

    def export(self, start: int = 0, stop: int | None = None) -> list[Frame]:
        """Frames ``start`` .. ``stop - 1`` (Python slice semantics, clamped), oldest first.

        Raises ValueError for an empty range so "save clip" never stores nothing silently.
        """
        with self._lock:
            n = len(self._entries)
            s, e, _ = slice(start, stop).indices(n)
            if e <= s:
                raise ValueError(f"empty cine range {start}..{stop} (buffer holds {n} frames)")
            return [self._entries[i].frame for i in range(s, e)]

    def fps(self) -> float | None:
        """Average arrival rate over the buffer, or None with fewer than two frames."""
        with self._lock:
            n = len(self._entries)
            if n < 2:
                return None
            span = self._entries[-1].arrival - self._entries[0].arrival
            return (n - 1) / span if span > 0 else None
