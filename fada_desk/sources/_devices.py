"""Enumerating capture devices without opening a video stream.

Linux: ``/sys/class/video4linux`` lists every V4L2 node, but a USB grabber or
webcam usually exposes two (video + metadata); only nodes whose device
capabilities include video capture are real sources. We ask the driver with
``VIDIOC_QUERYCAP`` (cheap, no streaming) and fall back to the sysfs
``index`` attribute (0 = main node) when the node cannot be opened.
Windows: DirectShow enumeration through the optional ``pygrabber`` package,
else probing indexes. macOS: probing AVFoundation indexes.
"""

from __future__ import annotations

import os
import re
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

# linux/videodev2.h
VIDIOC_QUERYCAP = 0x80685600  # _IOR('V', 0, struct v4l2_capability), sizeof == 104
V4L2_CAP_VIDEO_CAPTURE = 0x00000001
V4L2_CAP_VIDEO_CAPTURE_MPLANE = 0x00001000
V4L2_CAP_DEVICE_CAPS = 0x80000000
_QUERYCAP_SIZE = 104


@dataclass(frozen=True)
class CaptureDevice:
    """A capture device as the user picks it. ``path`` is the /dev node on Linux, else ''."""

    index: int
    name: str
    path: str
    backend: str  # v4l2 | dshow | msmf | avfoundation

    @property
    def uri(self) -> str:
        return f"device:{self.index}"


def parse_querycap(buf: bytes) -> tuple[str, str, int]:
    """(driver, card name, effective capabilities) from a ``struct v4l2_capability``."""
    if len(buf) < _QUERYCAP_SIZE:
        raise ValueError("short v4l2_capability")
    driver = buf[0:16].split(b"\0", 1)[0].decode("utf-8", "replace")
    card = buf[16:48].split(b"\0", 1)[0].decode("utf-8", "replace")
    capabilities, device_caps = struct.unpack_from("=II", buf, 84)
    caps = device_caps if capabilities & V4L2_CAP_DEVICE_CAPS else capabilities
    return driver, card, caps


def is_capture_caps(caps: int) -> bool:
    return bool(caps & (V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_VIDEO_CAPTURE_MPLANE))


def _querycap(dev: Path) -> tuple[str, str, int] | None:
    """VIDIOC_QUERYCAP on a device node; None when it cannot be opened or queried."""
    try:
        import fcntl
    except ImportError:  # not on POSIX
        return None
    try:
        fd = os.open(str(dev), os.O_RDWR | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        buf = bytearray(_QUERYCAP_SIZE)
        fcntl.ioctl(fd, VIDIOC_QUERYCAP, buf, True)
        return parse_querycap(bytes(buf))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def list_v4l2(sysfs: str | Path = "/sys/class/video4linux", dev: str | Path = "/dev") -> list[CaptureDevice]:
    """Video capture nodes on Linux, sorted by index."""
    root = Path(sysfs)
    if not root.is_dir():
        return []
    found: list[CaptureDevice] = []
    for entry in root.iterdir():
        m = re.fullmatch(r"video(\d+)", entry.name)
        if not m:
            continue
        index = int(m.group(1))
        node = Path(dev) / entry.name
        name = _read_text(entry / "name")
        cap = _querycap(node)
        if cap is not None:
            _driver, card, caps = cap
            if not is_capture_caps(caps):
                continue
            name = card or name
        else:
            # Cannot ask the driver (permissions / no node): the sysfs index attribute is
            # 0 for the main node of a device and 1.. for its metadata / extra nodes.
            idx_attr = _read_text(entry / "index")
            if idx_attr and idx_attr != "0":
                continue
        found.append(CaptureDevice(index=index, name=name or entry.name, path=str(node), backend="v4l2"))
    return sorted(found, key=lambda d: d.index)


def _probe_indexes(api: int, backend: str, names: list[str], limit: int = 8) -> list[CaptureDevice]:
    import cv2

    found: list[CaptureDevice] = []
    misses = 0
    for i in range(limit):
        cap = cv2.VideoCapture(i, api)
        ok = cap.isOpened()
        cap.release()
        if ok:
            name = names[i] if i < len(names) else f"Camera {i}"
            found.append(CaptureDevice(index=i, name=name, path="", backend=backend))
            misses = 0
        else:
            misses += 1
            if misses >= 2:
                break
    return found


def _dshow_names() -> list[str] | None:
    try:
        from pygrabber.dshow_graph import FilterGraph  # optional, Windows only
    except Exception:  # noqa: BLE001 - absent or broken COM bindings
        return None
    try:
        return list(FilterGraph().get_input_devices())
    except Exception:  # noqa: BLE001
        return None


def list_devices(backend: str = "auto") -> list[CaptureDevice]:
    """Capture devices present now; [] when there are none (never raises for "none")."""
    if sys.platform.startswith("linux"):
        return list_v4l2()
    if sys.platform == "win32":
        names = _dshow_names()
        if names is not None and backend in ("auto", "dshow"):
            # DirectShow enumerates in the same order OpenCV's DSHOW backend opens indexes.
            return [CaptureDevice(index=i, name=n, path="", backend="dshow") for i, n in enumerate(names)]
        import cv2

        api, name = (cv2.CAP_MSMF, "msmf") if backend == "msmf" else (cv2.CAP_DSHOW, "dshow")
        return _probe_indexes(api, name, names or [])
    if sys.platform == "darwin":
        import cv2

        return _probe_indexes(cv2.CAP_AVFOUNDATION, "avfoundation", [])
    return []
