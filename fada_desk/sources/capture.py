"""Live sources: capture cards / webcams (:class:`CaptureSource`) and network streams
(:class:`StreamSource`).

Both run the reader thread of :class:`~fada_desk.sources.live.LiveSource`:
the newest frame wins, a lost signal is re-opened with backoff, and after
``give_up_s`` without a frame the source is lost (:class:`DeviceLostError`).
Devices are found by index, ``/dev`` path or name (:func:`list_devices`).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

from fada_desk.core.errors import SourceError
from fada_desk.sources._devices import CaptureDevice, list_devices
from fada_desk.sources.live import LiveSource
from fada_desk.sources.video import fourcc_text

STREAM_SCHEMES = ("udp", "rtp", "rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "srt", "tcp")
BACKENDS = ("auto", "v4l2", "dshow", "msmf", "avfoundation", "any")

__all__ = [
    "BACKENDS",
    "STREAM_SCHEMES",
    "CaptureDevice",
    "CaptureSource",
    "StreamSource",
    "list_devices",
]


def _backend_api(cv2: Any, backend: str) -> tuple[int, str]:
    if backend not in BACKENDS:
        raise SourceError(f"unknown capture backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if backend == "auto":
        if sys.platform.startswith("linux"):
            backend = "v4l2"
        elif sys.platform == "win32":
            backend = "dshow"
        elif sys.platform == "darwin":
            backend = "avfoundation"
        else:
            backend = "any"
    api = {
        "v4l2": cv2.CAP_V4L2,
        "dshow": cv2.CAP_DSHOW,
        "msmf": cv2.CAP_MSMF,
        "avfoundation": getattr(cv2, "CAP_AVFOUNDATION", cv2.CAP_ANY),
        "any": cv2.CAP_ANY,
    }[backend]
    return api, backend


class CaptureSource(LiveSource):
    """A capture card or camera: ``device:0``, ``device:/dev/video2`` or ``device:NAME``.

    ``width``/``height``/``fps``/``fourcc`` are requests (a grabber may pick the
    nearest mode it supports; the actual values are in ``info``). ``fourcc="MJPG"``
    is what most USB HDMI grabbers need for 1080p at 30 fps.
    """

    kind = "capture"

    @classmethod
    def probe(cls, uri: str) -> int:
        return 80 if uri.startswith("device:") else 0

    def __init__(
        self,
        uri: str = "device:0",
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        fourcc: str | None = None,
        backend: str = "auto",
        read_timeout_s: float = 3.0,
        give_up_s: float = 10.0,
    ) -> None:
        import cv2

        if fourcc is not None and len(fourcc) != 4:
            raise SourceError(f"fourcc must be 4 characters, got {fourcc!r}")
        self._api, self._backend = _backend_api(cv2, backend)
        self._request = {"width": width, "height": height, "fps": fps, "fourcc": fourcc}
        self._target, self._device_name = self._resolve(uri)
        super().__init__(uri, read_timeout_s=read_timeout_s, give_up_s=give_up_s)

    def _resolve(self, uri: str) -> tuple[int | str, str]:
        spec = uri[len("device:") :].strip() if uri.startswith("device:") else uri.strip()
        if not spec:
            raise SourceError("empty device name: use device:0, device:/dev/video0 or device:NAME")
        if re.fullmatch(r"\d+", spec):
            return int(spec), ""
        if spec.startswith("/dev/"):
            return spec, ""
        devices = list_devices(self._backend)
        exact = [d for d in devices if d.name.casefold() == spec.casefold()]
        partial = [d for d in devices if spec.casefold() in d.name.casefold()]
        match = exact or partial
        if len(match) >= 1 and (exact or len(partial) == 1):
            d = match[0]
            return (d.path if d.path else d.index), d.name
        if not devices:
            raise SourceError(f"no capture device named {spec!r}: no capture devices found")
        names = ", ".join(d.name for d in devices)
        if len(partial) > 1:
            raise SourceError(
                f"device name {spec!r} is ambiguous (matches {', '.join(d.name for d in partial)})"
            )
        raise SourceError(f"no capture device named {spec!r} (found: {names})")

    def _describe(self) -> str:
        target = self._target
        label = f"/dev/video{target}" if isinstance(target, int) and self._backend == "v4l2" else str(target)
        return f"capture device {self._device_name or label}"

    def _display_uri(self) -> str:
        return self._uri

    def _open_capture(self, budget_s: float | None = None) -> Any:
        cv2 = self._cv2
        target = self._target
        if self._backend == "v4l2":
            node = Path(f"/dev/video{target}") if isinstance(target, int) else Path(str(target))
            if not node.exists():
                raise SourceError(f"{self._describe()} not found ({node} does not exist)")
        cap = cv2.VideoCapture(target, self._api)
        if not cap.isOpened():
            cap.release()
            raise SourceError(
                f"{self._describe()} could not be opened (unplugged, or in use by another program?)"
            )
        req = self._request
        if req["fourcc"]:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*str(req["fourcc"])))
        if req["width"]:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, float(req["width"]))
        if req["height"]:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, float(req["height"]))
        if req["fps"]:
            cap.set(cv2.CAP_PROP_FPS, float(req["fps"]))
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1.0)  # fewer queued driver buffers = less latency (where supported)
        return cap

    def _metadata(self, cap: Any) -> dict[str, Any]:
        return {
            "backend": self._backend,
            "device": self._device_name or str(self._target),
            "requested": {k: v for k, v in self._request.items() if v is not None},
            "fourcc": fourcc_text(cap.get(self._cv2.CAP_PROP_FOURCC)),
        }


class StreamSource(LiveSource):
    """A network stream (udp://, rtsp://, http://, srt://, ...) through FFmpeg.

    A local video file can be opened the same way (``StreamSource(path)``):
    it is then paced at its own frame rate and looped, which makes a stand-in
    live source for demos and tests.
    """

    kind = "stream"

    @classmethod
    def probe(cls, uri: str) -> int:
        scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
        return 80 if scheme in STREAM_SCHEMES else 0

    def __init__(
        self,
        uri: str,
        *,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 3.0,
        give_up_s: float = 15.0,
        loop: bool = True,
    ) -> None:
        self._open_timeout_s = float(open_timeout_s)
        self._is_file = "://" not in uri
        if self._is_file and not Path(uri).is_file():
            raise SourceError(f"{uri}: no such file")
        self._loop = loop
        self._period = 0.0
        self._next_due = 0.0
        super().__init__(uri, read_timeout_s=read_timeout_s, give_up_s=give_up_s)
        if self._is_file and self._info.fps:
            self._period = 1.0 / self._info.fps

    def _open_capture(self, budget_s: float | None = None) -> Any:
        cv2 = self._cv2
        timeout = self._open_timeout_s if budget_s is None else min(self._open_timeout_s, max(0.5, budget_s))
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(timeout * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self._read_timeout_s * 1000),
        ]
        cap = cv2.VideoCapture(self._uri, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            what = "file" if self._is_file else "stream"
            raise SourceError(
                f"{self._display_uri()}: cannot open {what} (nothing received within "
                f"{self._open_timeout_s:g} s, or unsupported format)"
            )
        return cap

    def _pace(self) -> None:
        if not self._period:
            return
        now = time.monotonic()
        if self._next_due > now:
            self._stop.wait(self._next_due - now)
        self._next_due = max(self._next_due + self._period, time.monotonic() - self._period)

    def _on_end(self) -> bool:
        return self._is_file and self._loop

    def _metadata(self, cap: Any) -> dict[str, Any]:
        scheme = "file" if self._is_file else self._uri.split("://", 1)[0].lower()
        return {
            "protocol": scheme,
            "codec": fourcc_text(cap.get(self._cv2.CAP_PROP_FOURCC)),
            "loop": self._loop if self._is_file else None,
        }

    @property
    def loops(self) -> int:
        """How many times a file stand-in wrapped around."""
        return self._loops
