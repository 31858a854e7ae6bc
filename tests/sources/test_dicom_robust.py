"""Issue 10 (items 1, 2, 6): no DICOM input aborts, hangs or tracebacks; what pydicom can read, opens.

Every failure class is a minimal edit of a real file (:mod:`.robust_cases`). The
files that could abort the process are opened in a child process, so an abort
fails the test instead of killing pytest.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import uid

from fada_desk.core.errors import SourceError
from fada_desk.sources import _dicom_codecs, _limits, open_source
from fada_desk.sources.dicom import DicomSource

from . import dicom_factory as factory
from . import robust_cases

ROOT = Path(__file__).resolve().parents[2]

# Opens each file given on the command line, reads every frame, prints one JSON line per file.
CHILD = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from fada_desk.sources import open_source
for case, path in zip(sys.argv[1::2], sys.argv[2::2]):
    try:
        with open_source(path) as src:
            for frame in src.frames():
                pass
            print(json.dumps([case, "open", "", src.info.metadata.get("read_with_force", "")]), flush=True)
    except Exception as err:  # the parent checks it is a one-line SourceError
        print(json.dumps([case, "error", type(err).__name__, str(err)]), flush=True)
"""


def _run_child(code: str, *args: str, timeout: float = 240) -> list[list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("[")]
    last = rows[-1][0] if rows else "(none)"
    assert proc.returncode == 0, f"child died with {proc.returncode} after case {last}: {proc.stderr[-800:]}"
    return rows


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    return robust_cases.build(tmp_path_factory.mktemp("robust"))


def test_every_damaged_file_gives_one_line_or_opens_and_nothing_aborts(
    cases: dict[str, tuple[Path, str]],
) -> None:
    args = [a for case, (path, _) in cases.items() for a in (case, str(path))]
    rows = {row[0]: row[1:] for row in _run_child(CHILD, *args)}
    assert set(rows) == set(cases)
    for case, (_, expected) in cases.items():
        outcome, kind, message = rows[case]
        if expected == "open":
            assert outcome == "open", f"{case}: {kind}: {message}"
            continue
        assert outcome == "error" and kind in ("SourceError", "UnsupportedFormatError"), (
            f"{case}: {kind}: {message}"
        )
        assert "\n" not in message and len(message) < 300, case
        assert message.split(": ", 1)[1].startswith(expected), f"{case}: {message}"


def test_what_force_reads_says_so_and_shows_the_same_pixels(cases: dict[str, tuple[Path, str]]) -> None:
    with DicomSource(robust_cases.OB) as ref:
        want = ref.read(0).pixels
    for case, why in (
        ("dicm-marker-damaged", "the DICM marker is damaged"),
        ("no-preamble-meta-first", "no preamble"),
    ):
        with DicomSource(cases[case][0]) as src:
            assert src.info.metadata["read_with_force"] == why
            assert any("read with force" in w for w in src.info.metadata["warnings"])
            assert np.array_equal(src.read(0).pixels, want), case
    with DicomSource(cases["file-meta-damaged"][0]) as src, DicomSource(robust_cases.US1) as ref:
        assert src.info.metadata["read_with_force"] == "file meta information damaged"
        assert (
            src.info.metadata["TransferSyntaxUID"] == uid.ExplicitVRLittleEndian
        )  # salvaged from the meta bytes
        assert np.array_equal(src.read(0).pixels, ref.read(0).pixels)


def test_12_bit_jpeg_extended_decodes_with_libjpeg() -> None:
    with DicomSource(robust_cases.jpeg12()) as src:
        assert src.info.metadata["TransferSyntaxUID"] == uid.JPEGExtended12Bit
        assert src.info.metadata["decoded_with"].startswith("pylibjpeg")
        raw = src.read_raw(0)
        assert src.read(0).pixels.dtype == np.uint8
    assert raw.shape == (1024, 256) and raw.dtype == np.uint16
    # pydicom's reference values for this file (tests/pixels/pixels_reference.py, JPGE_16_12_1_0_1F_M2).
    assert int(raw[420, 140]) == 244 and int(raw[230, 120]) == 95


def test_enhanced_object_gets_calibration_and_window_from_its_functional_groups(tmp_path: Path) -> None:
    path = robust_cases.enhanced_us(tmp_path / "enhanced.dcm")
    with DicomSource(path) as src:
        assert src.info.metadata["calibration_from"] == "PixelMeasuresSequence (per frame)"
        assert src.window == (100.0, 100.0)  # Frame VOI LUT of the shared functional groups
        for i, (row_mm, col_mm) in enumerate(robust_cases.ENHANCED_SPACINGS):
            cal = src.read(i).calibration
            assert cal is not None and cal.regions[0].mm_per_px == pytest.approx((col_mm, row_mm))
        assert src.info.calibration == src.read(0).calibration


def test_gdcm_is_never_used_in_process() -> None:
    import pydicom.config
    from pydicom.pixels import get_decoder

    with DicomSource(robust_cases.J2K) as src:
        assert src.info.metadata["decoded_with"] == "pylibjpeg, pillow"
    for ts in uid.AllTransferSyntaxes:
        try:
            decoder = get_decoder(ts)
        except NotImplementedError:
            continue
        assert "gdcm" not in decoder.available_plugins, ts
    assert not [h for h in pydicom.config.pixel_data_handlers if "gdcm" in h.__name__]


ISOLATED = r"""
import hashlib, json, sys
from fada_desk.sources import _dicom_codecs
from fada_desk.sources.dicom import DicomSource
_dicom_codecs.in_process_plugins = lambda *a: ()  # as if only GDCM could decode these syntaxes
for path in sys.argv[1:]:
    try:
        with DicomSource(path) as src:
            out = [src.info.metadata["decoded_with"], hashlib.sha256(src.read(0).pixels.tobytes()).hexdigest()]
    except Exception as err:
        out = [type(err).__name__, str(err)]
    print(json.dumps(out), flush=True)
"""


def test_a_syntax_only_gdcm_decodes_runs_in_a_child_that_may_abort(
    cases: dict[str, tuple[Path, str]],
) -> None:
    import hashlib

    good, crashing = robust_cases.J2K, cases["j2k-grey-codestream-rgb-header"][0]
    rows = _run_child(ISOLATED, str(good), str(crashing))
    with DicomSource(good) as src:
        want = hashlib.sha256(src.read(0).pixels.tobytes()).hexdigest()
    assert rows[0] == ["gdcm (isolated process)", want]
    kind, message = rows[1]
    assert kind == "SourceError" and "\n" not in message
    assert "cannot decode frame 0 (the GDCM decoder crashed with SIGABRT" in message


def test_deflate_bomb_and_header_budget_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    grey = factory.hc18_grey()[:60, :80].copy()
    ds = pydicom.dcmread(factory.native(tmp_path / "g.dcm", grey, photometric="MONOCHROME2"))
    ds.file_meta.TransferSyntaxUID = uid.DeflatedExplicitVRLittleEndian
    ds.save_as(tmp_path / "deflated.dcm", enforce_file_format=True)
    with DicomSource(tmp_path / "deflated.dcm") as src:  # within budget: reads
        assert np.array_equal(src.read(0).pixels, grey)
    monkeypatch.setattr(_limits, "MAX_INFLATED_BYTES", 2000)
    with pytest.raises(SourceError, match=r"inflates to more than 0 MiB \(a decompression bomb\?\)"):
        DicomSource(tmp_path / "deflated.dcm")
    monkeypatch.setattr(_limits, "MAX_HEADER_BYTES", 100)
    with pytest.raises(SourceError, match="the header holds more than 0 MiB of values"):
        DicomSource(robust_cases.OB)


def test_codestream_shapes() -> None:
    frame = next(
        pydicom.encaps.generate_frames(pydicom.dcmread(robust_cases.J2K).PixelData, number_of_frames=1)
    )
    assert _dicom_codecs.codestream_shape(frame) == (480, 640, 3)
    jpeg = b"\xff\xd8\xff\xe0\x00\x04ab\xff\xc1\x00\x0b\x0c\x01\x00\x02\x00\x01\x01\x11\x00"
    assert _dicom_codecs.codestream_shape(jpeg) == (256, 512, 1)
    assert _dicom_codecs.codestream_shape(b"\xff\xd8\xff") is None
    assert _dicom_codecs.codestream_shape(bytes(100)) is None


def _png(width: int, height: int, extra: bytes = b"") -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x00\x00\x00\x00"
    idat = zlib.compress(b"\x00" + bytes(min(width, 64)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_image_bombs_and_oversized_text_chunks_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def length(data: bytes) -> bytes:
        return len(data).to_bytes(4, "big")

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png(100_000, 100_000))
    with pytest.raises(SourceError, match="bomb.png: image is too large to open safely"):
        open_source(bomb)
    text = b"comment\x00\x00" + zlib.compress(
        b"a" * (4 << 20)
    )  # zTXt inflating to 4 MB (Pillow's limit: 1 MB)
    ztxt = length(text) + b"zTXt" + text + zlib.crc32(b"zTXt" + text).to_bytes(4, "big")
    big_text = tmp_path / "ztxt.png"
    big_text.write_bytes(_png(64, 64, ztxt))
    with pytest.raises(SourceError) as err:
        open_source(big_text)
    assert "\n" not in str(err.value) and "decompressed data too large" in str(err.value).lower()
    small = tmp_path / "small.png"
    small.write_bytes(_png(64, 64))
    monkeypatch.setattr(_limits, "MAX_FRAME_PIXELS", 1000)  # our own budget, not Pillow's
    with pytest.raises(SourceError, match=r"small.png: image is too large to open safely \(64 x 64"):
        open_source(small)


def test_video_over_the_pixel_budget_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from testdata import shared_or_local

    monkeypatch.setattr(_limits, "MAX_FRAME_PIXELS", 1000)
    with pytest.raises(SourceError, match=r"image is too large to open safely \(320 x 240"):
        open_source(shared_or_local("video", "us_cine_sonosite_30f.avi"))
