"""Live sources: device enumeration, the reader thread's state machine, and a real UDP stream."""

from __future__ import annotations

import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from testdata import shared_or_local

from fada_desk.core.errors import DeviceLostError, SourceError
from fada_desk.sources import _devices, capture, open_source
from fada_desk.sources._devices import CaptureDevice, is_capture_caps, list_v4l2, parse_querycap
from fada_desk.sources.base import LatestFrameSlot
from fada_desk.sources.capture import CaptureSource, StreamSource
from fada_desk.sources.live import LiveSource, redact_uri

MP4 = shared_or_local("video", "us_cine_sonosite_30f.mp4")


# -- device enumeration ----------------------------------------------------------------------------


def _querycap_bytes(driver: str, card: str, caps: int, device_caps: int) -> bytes:
    return struct.pack(
        "=16s32s32sIII12x", driver.encode(), card.encode(), b"usb-0000:00:14.0-1", 0x050F00, caps, device_caps
    )


def test_parse_querycap_uses_device_caps() -> None:
    buf = _querycap_bytes("uvcvideo", "USB3 Video Capture", 0x84A00001 | 0x80000000, 0x04200001)
    assert len(buf) == 104
    driver, card, caps = parse_querycap(buf)
    assert (driver, card, caps) == ("uvcvideo", "USB3 Video Capture", 0x04200001)
    assert is_capture_caps(caps)
    # the metadata node of the same grabber: META_CAPTURE only
    _, _, meta_caps = parse_querycap(
        _querycap_bytes("uvcvideo", "USB3 Video Capture", 0x84A00001, 0x04A00000)
    )
    assert not is_capture_caps(meta_caps)
    with pytest.raises(ValueError):
        parse_querycap(buf[:50])


def _fake_sysfs(root: Path, nodes: dict[str, tuple[str, str]]) -> Path:
    for node, (name, index) in nodes.items():
        (root / node).mkdir(parents=True)
        (root / node / "name").write_text(name + "\n")
        (root / node / "index").write_text(index + "\n")
    return root


def test_list_v4l2_without_driver_access_uses_sysfs_index(tmp_path: Path) -> None:
    sysfs = _fake_sysfs(
        tmp_path / "sys",
        {
            "video0": ("USB3 Video Capture", "0"),
            "video1": ("USB3 Video Capture", "1"),
            "video10": ("HD Webcam", "0"),
            "v4l-subdev0": ("sensor", "0"),
        },
    )
    devices = list_v4l2(sysfs, tmp_path / "dev")  # no /dev nodes: cannot ask the driver
    assert devices == [
        CaptureDevice(0, "USB3 Video Capture", str(tmp_path / "dev" / "video0"), "v4l2"),
        CaptureDevice(10, "HD Webcam", str(tmp_path / "dev" / "video10"), "v4l2"),
    ]
    assert devices[1].uri == "device:10"


def test_list_v4l2_asks_the_driver_when_it_can(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sysfs = _fake_sysfs(
        tmp_path / "sys",
        {
            "video0": ("grabber", "0"),
            "video1": ("grabber", "1"),
            "video2": ("encoder", "0"),
        },
    )
    answers = {
        "video0": ("uvcvideo", "Magewell USB Capture HDMI", 0x04200001),
        "video1": ("uvcvideo", "Magewell USB Capture HDMI", 0x04A00000),  # metadata node
        "video2": ("m2m", "JPEG encoder", 0x00000002),  # video output only
    }
    monkeypatch.setattr(_devices, "_querycap", lambda dev: answers[dev.name])
    devices = list_v4l2(sysfs, tmp_path / "dev")
    assert [(d.index, d.name) for d in devices] == [(0, "Magewell USB Capture HDMI")]


def test_list_devices_on_this_machine_returns_a_list() -> None:
    devices = capture.list_devices()
    assert isinstance(devices, list)
    assert all(isinstance(d, CaptureDevice) for d in devices)
    if not Path("/sys/class/video4linux").exists():
        assert devices == []


def test_missing_device_is_a_clear_error() -> None:
    if Path("/dev/video0").exists():
        pytest.skip("this machine has a capture device")
    with pytest.raises(SourceError, match=r"capture device /dev/video0 not found"):
        open_source("device:0")
    with pytest.raises(SourceError, match="not found"):
        CaptureSource("device:/dev/video9")


def test_device_names_are_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = [
        CaptureDevice(7, "USB3 Video Capture", "/nonexistent/video7", "v4l2"),
        CaptureDevice(8, "USB3 Video Capture Pro", "/nonexistent/video8", "v4l2"),
        CaptureDevice(9, "HD Webcam", "/nonexistent/video9", "v4l2"),
    ]
    monkeypatch.setattr(capture, "list_devices", lambda backend="auto": fake)
    # exact name wins over the longer partial match; the error proves which node it resolved to
    with pytest.raises(SourceError, match=r"USB3 Video Capture not found \(/nonexistent/video7"):
        CaptureSource("device:usb3 video capture", backend="v4l2")
    with pytest.raises(SourceError, match=r"/nonexistent/video9"):
        CaptureSource("device:webcam", backend="v4l2")
    with pytest.raises(SourceError, match="ambiguous"):
        CaptureSource("device:USB3", backend="v4l2")
    with pytest.raises(SourceError, match=r"no capture device named 'Epiphan' \(found: USB3 Video"):
        CaptureSource("device:Epiphan", backend="v4l2")
    monkeypatch.setattr(capture, "list_devices", lambda backend="auto": [])
    with pytest.raises(SourceError, match="no capture devices found"):
        CaptureSource("device:Epiphan", backend="v4l2")


def test_bad_capture_options() -> None:
    with pytest.raises(SourceError, match="unknown capture backend"):
        CaptureSource("device:0", backend="quicktime")
    with pytest.raises(SourceError, match="fourcc"):
        CaptureSource("device:0", fourcc="MJPEG")
    with pytest.raises(SourceError, match="empty device name"):
        CaptureSource("device:")


def test_redact_uri_hides_passwords() -> None:
    assert redact_uri("rtsp://admin:s3cret@10.0.0.5:554/stream1") == "rtsp://admin:***@10.0.0.5:554/stream1"
    assert redact_uri("udp://127.0.0.1:5000") == "udp://127.0.0.1:5000"


def test_registry_routes_devices_and_urls() -> None:
    assert CaptureSource.probe("device:0") > 0 and StreamSource.probe("device:0") == 0
    for url in ("udp://127.0.0.1:5000", "rtsp://cam/live", "http://x/y.mjpg", "srt://host:9000"):
        assert StreamSource.probe(url) > 0 and CaptureSource.probe(url) == 0
    assert StreamSource.probe(str(MP4)) == 0  # a file path opens as a seekable video, not a stream


# -- the reader thread, driven by a scripted fake capture -------------------------------------------


class _FakeCap:
    """Stands in for cv2.VideoCapture: ``n`` frames, then grab() fails (device unplugged)."""

    def __init__(self, n: int, value: int = 0, block: threading.Event | None = None) -> None:
        self.n, self.value, self.block = n, value, block
        self.released = False
        self.grabbed: list[float] = []  # time.monotonic() when each successful grab() returned

    def grab(self) -> bool:
        if self.block is not None and self.n <= 0:
            self.block.wait(10)
            return False
        if self.n <= 0:
            return False
        self.n -= 1
        time.sleep(0.002)
        self.grabbed.append(time.monotonic())
        return True

    def retrieve(self) -> tuple[bool, np.ndarray]:
        return True, np.full((48, 64, 3), self.value, np.uint8)

    def get(self, prop: int) -> float:
        return 25.0 if prop == 5 else 0.0  # CAP_PROP_FPS == 5

    def release(self) -> None:
        self.released = True


class _Scripted(LiveSource):
    kind = "fake"

    @classmethod
    def probe(cls, uri: str) -> int:
        return 0

    def __init__(self, caps: list[Any], **kw: Any) -> None:
        self._caps: Iterator[Any] = iter(caps)
        self.opened: list[Any] = []
        super().__init__("fake://device", **kw)

    def _open_capture(self, budget_s: float | None = None) -> Any:
        nxt = next(self._caps, None)
        if nxt is None:
            raise SourceError("fake device not found")
        self.opened.append(nxt)
        return nxt


def _wait_for(cond: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def test_reader_thread_reconnects_then_gives_up() -> None:
    first, second = _FakeCap(20, value=10), _FakeCap(20, value=200)
    src = _Scripted([first, None, second], give_up_s=1.5, backoff_s=(0.05, 0.1))
    try:
        assert src.info.live and src.info.frame_count is None and src.info.fps == 25.0
        assert not src.seekable
        with pytest.raises(SourceError, match="cannot seek"):
            src.read(0)
        # frames from the second connection arrive after a reconnect
        assert _wait_for(lambda: src.stats.reconnects == 1, 3)
        frame, _ = src.next_frame(0, timeout=1)
        assert frame is not None and frame.index is None
        assert _wait_for(lambda: src.stats.state == "lost", 4)
        stats = src.stats
        assert stats.produced == 40 and stats.reconnects == 1
        assert "lost" in stats.last_error
        assert first.released and second.released
        with pytest.raises(DeviceLostError):
            list(src.frames())
        with pytest.raises(DeviceLostError):
            src.next_frame(10**9, timeout=0.1)
    finally:
        src.close()
    assert src.stats.state == "lost"  # close() does not hide the loss


def test_latest_frame_wins_and_overwrites_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    published: list[float] = []  # the timestamp of every frame the reader put into its slot
    real_put = LatestFrameSlot.put

    def recording_put(slot: LatestFrameSlot, frame: Any) -> None:
        published.append(frame.timestamp)
        real_put(slot, frame)

    monkeypatch.setattr(LatestFrameSlot, "put", recording_put)
    cap = _FakeCap(200, value=50)
    t0 = time.monotonic()
    src = _Scripted([cap], give_up_s=30)
    try:
        assert _wait_for(lambda: src.stats.produced == 200, 5)
        frame, seq = src.next_frame(0, timeout=1)
        t1 = time.monotonic()
        assert seq == 200  # the newest, not the oldest queued frame
        stats = src.stats
        assert stats.overwritten == 199  # everything grabbed but never taken
        assert frame is not None and frame.pixels.shape == (48, 64, 3)
        # Frame.timestamp is time.monotonic() taken right after each grab: strictly increasing,
        # inside the test's window, after its own grab returned and before the next grab did.
        assert len(published) == 200 and frame.timestamp == published[-1]
        assert all(a < b for a, b in zip(published, published[1:]))
        assert t0 <= published[0] and published[-1] <= t1
        assert all(g <= ts for g, ts in zip(cap.grabbed, published))
        assert all(ts <= g for ts, g in zip(published, cap.grabbed[1:]))
    finally:
        src.close()


def test_close_returns_quickly_even_if_grab_blocks() -> None:
    release = threading.Event()
    cap = _FakeCap(3, block=release)
    src = _Scripted([cap], give_up_s=30)
    assert _wait_for(lambda: src.stats.produced == 3, 3)
    t0 = time.monotonic()
    src.close()
    assert time.monotonic() - t0 < 2.5
    assert src.stats.state == "stopped"
    release.set()  # the blocked grab returns; the thread releases the device itself
    assert _wait_for(lambda: cap.released, 3)


class _BadPixelsCap(_FakeCap):
    def retrieve(self) -> tuple[bool, np.ndarray]:
        if self.n < 5:  # after a few good frames the driver hands back nonsense
            return True, np.zeros((48, 64, 5), np.uint8)
        return super().retrieve()


def test_unexpected_reader_failure_surfaces_as_device_lost() -> None:
    src = _Scripted([_BadPixelsCap(10)], give_up_s=30)
    try:
        assert _wait_for(lambda: src.stats.state == "lost", 3)
        assert "reader failed" in src.stats.last_error
        with pytest.raises(DeviceLostError, match="reader failed"):
            list(src.frames())
    finally:
        src.close()


def test_open_failure_is_raised_from_the_constructor() -> None:
    with pytest.raises(SourceError, match="fake device not found"):
        _Scripted([])
    with pytest.raises(SourceError, match="no frame arrived"):
        _Scripted([_FakeCap(0)])


# -- real OpenCV/FFmpeg streams ---------------------------------------------------------------------


def test_file_opened_as_a_live_stream_is_paced_and_loops() -> None:
    src = StreamSource(str(MP4))
    try:
        assert src.info.kind == "stream" and src.info.live and (src.info.width, src.info.height) == (320, 240)
        got = []
        deadline = time.monotonic() + 8
        for f in src.frames():
            got.append(f)
            if len(got) >= 45 or time.monotonic() > deadline:
                break
        assert len(got) >= 45
        assert all(f.pixels.shape == (240, 320, 3) for f in got)
        stamps = [f.timestamp for f in got]
        assert stamps == sorted(stamps)
        rate = (len(got) - 1) / (stamps[-1] - stamps[0])
        assert 15 < rate < 45  # paced near the file's 30 fps, not decoded flat out
        assert src.loops >= 1  # 45 frames from a 30-frame file
        assert src.stats.state == "running"
    finally:
        t0 = time.monotonic()
        src.close()
        assert time.monotonic() - t0 < 2.5


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Sender:
    """ffmpeg streaming the real cine as MPEG-TS over UDP to localhost, in real time, looping."""

    def __init__(self, port: int) -> None:
        import imageio_ffmpeg

        self.cmd = [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
            str(MP4),
            "-c:v",
            "mpeg2video",
            "-q:v",
            "4",
            "-g",
            "10",
            "-f",
            "mpegts",
            f"udp://127.0.0.1:{port}?pkt_size=1316",
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_udp_stream_live_reconnect_and_loss() -> None:
    port = _free_udp_port()
    sender = _Sender(port)
    sender.start()
    src: StreamSource | None = None
    try:
        src = StreamSource(f"udp://127.0.0.1:{port}", open_timeout_s=8, read_timeout_s=1.0, give_up_s=5)
        assert (src.info.kind, src.info.width, src.info.height, src.info.live) == ("stream", 320, 240, True)
        assert src.info.metadata["protocol"] == "udp"

        frames = []
        deadline = time.monotonic() + 10
        for f in src.frames():
            frames.append(f)
            if len(frames) >= 50 or time.monotonic() > deadline:
                break
        assert len(frames) >= 50
        assert all(f.pixels.shape == (240, 320, 3) and f.pixels.dtype == np.uint8 for f in frames)
        steady = [f.timestamp for f in frames[20:]]  # after the start-up burst
        rate = (len(steady) - 1) / (steady[-1] - steady[0])
        assert 20 < rate < 40, rate
        assert src.stats.state == "running"

        sender.stop()  # the scanner's stream goes away
        assert _wait_for(lambda: src.stats.state == "reconnecting", 5), src.stats
        produced = src.stats.produced

        sender.start()  # ... and comes back before the give-up time
        assert _wait_for(lambda: src.stats.state == "running" and src.stats.reconnects == 1, 12), src.stats
        assert _wait_for(lambda: src.stats.produced > produced + 10, 5)

        sender.stop()  # gone for good
        t_lost = time.monotonic()
        assert _wait_for(lambda: src.stats.state == "lost", 15), src.stats
        assert time.monotonic() - t_lost < 12
        with pytest.raises(DeviceLostError, match="lost"):
            for _ in src.frames():
                pass
    finally:
        sender.stop()
        if src is not None:
            t0 = time.monotonic()
            src.close()
            assert time.monotonic() - t0 < 2.5


def test_unreachable_stream_fails_within_the_open_timeout() -> None:
    port = _free_udp_port()  # nobody sends here
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="cannot open stream"):
        StreamSource(f"udp://127.0.0.1:{port}", open_timeout_s=1.5)
    assert time.monotonic() - t0 < 6
