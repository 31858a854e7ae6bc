"""Video files through OpenCV: frame count, fps, accurate seeking, colour order."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from testdata import shared_or_local

from fada_desk.core.errors import SourceError, UnsupportedFormatError
from fada_desk.sources import open_source
from fada_desk.sources.video import VideoSource

from . import dicom_factory as factory

MP4 = shared_or_local("video", "us_cine_sonosite_30f.mp4")
AVI = shared_or_local("video", "us_cine_sonosite_30f.avi")

# Frame-number code burnt into synthetic test videos: 8 bits as 24x24 blocks, robust to lossy codecs.
_BLOCK, _BITS = 24, 8


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _stamp(frame: np.ndarray, n: int) -> np.ndarray:
    out = frame.copy()
    for b in range(_BITS):
        out[:_BLOCK, b * _BLOCK : (b + 1) * _BLOCK] = 255 if (n >> b) & 1 else 0
    return out


def _read_stamp(px: np.ndarray) -> int:
    grey = px.mean(axis=2) if px.ndim == 3 else px
    n = 0
    for b in range(_BITS):
        block = grey[4 : _BLOCK - 4, b * _BLOCK + 4 : (b + 1) * _BLOCK - 4]
        n |= (1 << b) if block.mean() > 127 else 0
    return n


@pytest.fixture(scope="module")
def cine() -> np.ndarray:
    return factory.cine_rgb(30)


@pytest.fixture(scope="module")
def numbered(tmp_path_factory: pytest.TempPathFactory, cine: np.ndarray) -> dict[str, Path]:
    """150-frame videos (real cine looped, frame number burnt in) in several containers/codecs,
    with B-frames and a 24-frame GOP so that seeking has to be exact."""
    d = tmp_path_factory.mktemp("numbered")
    frames = np.stack([_stamp(cine[i % 30], i) for i in range(150)])
    raw = frames.tobytes()
    outputs = {
        "mp4": ["-c:v", "libx264", "-g", "24", "-bf", "2", "-pix_fmt", "yuv420p", "-crf", "18"],
        "mkv": ["-c:v", "libx264", "-g", "24", "-bf", "2", "-pix_fmt", "yuv420p", "-crf", "18"],
        "mov": ["-c:v", "libx264", "-g", "24", "-pix_fmt", "yuv420p", "-crf", "18"],
        "avi": ["-c:v", "mjpeg", "-q:v", "3"],
    }
    paths = {}
    for ext, args in outputs.items():
        out = d / f"numbered.{ext}"
        subprocess.run(
            [
                _ffmpeg(),
                "-hide_banner",
                "-loglevel",
                "error",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-s",
                "320x240",
                "-r",
                "30",
                "-i",
                "-",
                *args,
                "-y",
                str(out),
            ],
            input=raw,
            check=True,
            timeout=120,
        )
        paths[ext] = out
    return paths


def _reference_frames(path: Path) -> list[np.ndarray]:
    """Plain sequential decoding with OpenCV, RGB."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        out.append(bgr[:, :, ::-1].copy())
    cap.release()
    return out


@pytest.mark.parametrize("path", [MP4, AVI], ids=["mp4-h264", "avi-mjpg"])
def test_real_cine_count_fps_size_and_pixels(path: Path) -> None:
    ref = _reference_frames(path)
    with open_source(path) as src:
        assert isinstance(src, VideoSource)
        info = src.info
        assert (info.kind, info.width, info.height, info.frame_count) == ("video", 320, 240, 30)
        assert info.fps == pytest.approx(30.0)
        assert info.metadata["frame_count_from"] == "container"
        for i in range(30):
            f = src.read(i)
            assert f.pixels.shape == (240, 320, 3) and f.index == i
            assert f.timestamp == pytest.approx(i / 30)
            assert np.array_equal(f.pixels, ref[i])


def test_frames_are_rgb_and_aligned_with_the_original(cine: np.ndarray) -> None:
    """The AVI (MJPG) decodes to the RGB cine (not BGR) and frame i is the original frame i."""
    with open_source(AVI) as src:
        for i in (0, 7, 29):
            px = src.read(i).pixels.astype(int)
            err_same = np.abs(px - cine[i]).mean()
            assert err_same < 4
            assert err_same < np.abs(px[:, :, ::-1] - cine[i]).mean()  # channel order matters
            other = cine[(i + 15) % 30]
            assert err_same < np.abs(px - other).mean()


def test_mp4_and_avi_agree_frame_by_frame() -> None:
    with open_source(MP4) as a, open_source(AVI) as b:
        for i in range(0, 30, 3):
            diff = np.abs(a.read(i).pixels.astype(int) - b.read(i).pixels.astype(int)).mean()
            assert diff < 6, i


@pytest.mark.parametrize("ext", ["mp4", "mkv", "mov", "avi"])
def test_random_access_returns_the_requested_frame(numbered: dict[str, Path], ext: str) -> None:
    rng = np.random.default_rng(7)
    order = [149, 0, 75, 74, 76, 30, 3, 120, 119, 1, 148, 60, *rng.integers(0, 150, 25).tolist()]
    with VideoSource(numbered[ext]) as src:
        assert src.info.frame_count == 150
        assert src.info.fps == pytest.approx(30.0)
        for i in order:
            assert _read_stamp(src.read(i).pixels) == i % 256, (ext, i)


def test_sequential_reads_never_seek(numbered: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    with VideoSource(numbered["mp4"]) as src:
        src.read(40)  # one seek to get there
        seeks: list[int] = []
        real_seek = src._seek
        monkeypatch.setattr(src, "_seek", lambda i: (seeks.append(i), real_seek(i)))
        for i in range(41, 100):
            assert _read_stamp(src.read(i).pixels) == i
            assert src.decoder_position == i + 1
        for i in range(105, 130, 5):  # short forward jumps are decoded through, not seeked
            assert _read_stamp(src.read(i).pixels) == i
        assert seeks == []
        src.read(10)  # backwards needs a seek
        assert seeks == [10]


def test_truncated_avi_frame_count_is_counted_not_trusted(tmp_path: Path, numbered: dict[str, Path]) -> None:
    data = numbered["avi"].read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.6)])  # like a recording interrupted by a power cut
    with VideoSource(cut) as src:
        n = src.info.frame_count
        assert src.info.metadata["frame_count_from"] == "decoded"
        assert src.info.metadata["container_frame_count"] == 150
        assert 60 < n < 150
        for i in (n - 1, 0, n // 2, n - 2):
            assert _read_stamp(src.read(i).pixels) == i
        with pytest.raises(SourceError, match="out of range"):
            src.read(n)


def test_count_frames_option_agrees_with_container(numbered: dict[str, Path]) -> None:
    with VideoSource(numbered["mkv"], count_frames=True) as src:
        assert src.info.frame_count == 150
        assert src.info.metadata["frame_count_from"] == "decoded"


def test_bad_video_files(tmp_path: Path) -> None:
    (tmp_path / "fake.mp4").write_text("this is not a video")
    with pytest.raises(UnsupportedFormatError, match="fake.mp4"):
        open_source(tmp_path / "fake.mp4")
    (tmp_path / "empty.avi").write_bytes(b"")
    with pytest.raises(UnsupportedFormatError, match="empty.avi"):
        VideoSource(tmp_path / "empty.avi")
    with pytest.raises(SourceError, match="no such file"):
        VideoSource(tmp_path / "missing.mp4")


def test_closed_source_refuses_reads() -> None:
    src = VideoSource(MP4)
    src.close()
    src.close()  # idempotent
    with pytest.raises(SourceError, match="closed"):
        src.read(5)
