"""What a :class:`~fada_desk.sources.pump.FramePump` reports: its state and rate statistics.

:class:`PumpCounters` is the pump's bookkeeping (frames produced, published,
displayed; rates; latencies), updated from the pump thread and the display
timer; :meth:`PumpCounters.snapshot` turns it into an immutable :class:`PumpStats`.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from fada_desk.core.frame import Frame
from fada_desk.sources.base import LatestFrameSlot

_WINDOW_S = 2.0  # fps measurement window
_LATENCY_SAMPLES = 1000


class PumpState(str, enum.Enum):
    """The pump's state, shown to the user (``str`` values: they compare equal to the plain text)."""

    STARTING = "starting"
    PLAYING = "playing"
    PAUSED = "paused"
    FROZEN = "frozen"
    ENDED = "ended"
    RECONNECTING = "reconnecting"
    LOST = "lost"
    ERROR = "error"
    CLOSED = "closed"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class PumpStats:
    """A snapshot for the status bar / benchmark. Times in seconds."""

    state: PumpState
    message: str
    produced: int  # frames the pump got from the source
    published: int  # frames offered to the display
    displayed: int  # frames the display took
    dropped_source: int  # grabbed by the device but overwritten before the pump took them
    dropped_display: int  # published but replaced before the display took them
    source_fps: float | None  # measured production rate
    display_fps: float | None  # measured take rate
    latency_p50: float | None  # source timestamp (or due time) -> publish
    latency_p99: float | None
    display_latency_p50: float | None  # source timestamp (or due time) -> take by the display
    display_latency_p99: float | None
    position: int | None  # file frame index last published
    frame_count: int | None
    reconnects: int = 0

    @property
    def dropped(self) -> int:
        return self.dropped_source + self.dropped_display


class Rate:
    """Events per second over a sliding time window."""

    def __init__(self, window: float = _WINDOW_S) -> None:
        self._t: deque[float] = deque()
        self._window = window

    def add(self, t: float) -> None:
        self._t.append(t)
        while self._t and t - self._t[0] > self._window:
            self._t.popleft()

    def rate(self, now: float) -> float | None:
        while self._t and now - self._t[0] > self._window:
            self._t.popleft()
        if len(self._t) < 2:
            return None
        span = self._t[-1] - self._t[0]
        return (len(self._t) - 1) / span if span > 0 else None


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q / 100.0 * (len(s) - 1))))
    return s[k]


class PumpCounters:
    """Counts, rates and latencies of one pump; thread-safe (pump thread vs display timer).

    Latency is measured from a frame's reference time (its source timestamp,
    or the time it was due) to publication, and to the display taking it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.produced = 0  # frames the pump got from the source
        self.published = 0
        self.displayed = 0
        self._src_rate = Rate()
        self._disp_rate = Rate()
        self._lat: deque[float] = deque(maxlen=_LATENCY_SAMPLES)
        self._disp_lat: deque[float] = deque(maxlen=_LATENCY_SAMPLES)
        self._ref_times: dict[int, float] = {}  # display seq -> reference time for latency

    def produced_at(self, now: float) -> None:
        with self._lock:
            self.produced += 1
            self._src_rate.add(now)

    def publish(self, slot: LatestFrameSlot, frame: Frame, ref_time: float | None, now: float,
                count: bool = True) -> None:
        """Put ``frame`` into ``slot`` and remember its reference time (``count``: a new frame's latency)."""
        with self._lock:  # held across put: take() must find the reference time of what it takes
            slot.put(frame)
            _, seq = slot.latest()
            if ref_time is not None:
                self._ref_times[seq] = ref_time
                if count:
                    self._lat.append(now - ref_time)
            self.published += 1

    def taken(self, seq: int, now: float) -> None:
        """The display took publication ``seq`` (older ones it never took are forgotten)."""
        with self._lock:
            ref = self._ref_times.pop(seq, None)
            for old in [s for s in self._ref_times if s < seq]:
                del self._ref_times[old]
            self.displayed += 1
            self._disp_rate.add(now)
            if ref is not None:
                self._disp_lat.append(now - ref)

    def snapshot(self, now: float, *, state: PumpState, message: str, dropped_source: int,
                 dropped_display: int, position: int | None, frame_count: int | None,
                 reconnects: int) -> PumpStats:
        with self._lock:
            lat = list(self._lat)
            dlat = list(self._disp_lat)
            return PumpStats(
                state=state, message=message, produced=self.produced,
                published=self.published, displayed=self.displayed,
                dropped_source=dropped_source, dropped_display=dropped_display,
                source_fps=self._src_rate.rate(now), display_fps=self._disp_rate.rate(now),
                latency_p50=percentile(lat, 50), latency_p99=percentile(lat, 99),
                display_latency_p50=percentile(dlat, 50), display_latency_p99=percentile(dlat, 99),
                position=position, frame_count=frame_count, reconnects=reconnects,
            )
