"""Which decoder turns a DICOM frame into pixels, and doing it without risking the process.

GDCM's codecs throw C++ exceptions that nothing catches when a header and its
codestream disagree: the whole process aborts (SIGABRT). So GDCM never runs in
this process: :func:`configure` removes it from every pydicom pixel-data
decoder (and the legacy handler list), and frames are decoded by decoders
that fail with Python errors - pylibjpeg-libjpeg (JPEG baseline, extended
8/12-bit, lossless, JPEG-LS), pylibjpeg-openjpeg (JPEG 2000, HTJ2K),
pylibjpeg-rle or pydicom's own RLE, Pillow. A transfer syntax that only
GDCM could decode here is decoded in :mod:`._dicom_worker`'s child process,
which may die without taking the application with it.

Before any decoder sees a compressed frame, its codestream header is read
(:func:`codestream_shape`): a frame that declares more pixels or samples than
the DICOM header (or than the pixel budget) is refused before a decoder
allocates for it.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass
from typing import Any

from fada_desk.core.errors import SourceError, UnsupportedFormatError
from fada_desk.sources import _limits
from fada_desk.sources._dicom_read import ts_label

NEVER_IN_PROCESS = ("gdcm",)
# Tried in this order: libjpeg/openjpeg/rle first (they decode every bit depth), Pillow last -
# except for 8-bit lossy JPEG, where Pillow (libjpeg-turbo) gives the pixels every other viewer shows.
PREFERENCE = ("pylibjpeg", "pydicom", "pyjpegls", "pillow")
PILLOW_FIRST = ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51")
_configured = False
_config_lock = threading.Lock()


def configure() -> None:
    """Take GDCM out of pydicom's decoders in this process (idempotent, thread-safe)."""
    global _configured
    if _configured:
        return
    with _config_lock:
        if _configured:
            return
        import pydicom.config
        from pydicom import uid
        from pydicom.pixels import get_decoder

        for ts in uid.AllTransferSyntaxes:
            try:
                decoder = get_decoder(ts)
            except NotImplementedError:
                continue
            for label in NEVER_IN_PROCESS:
                try:
                    decoder.remove_plugin(label)
                except ValueError:
                    pass  # this decoder never had it
        # pydicom 2's handlers are still reachable through Dataset.pixel_array(use_pdh=True).
        handlers = pydicom.config.pixel_data_handlers
        handlers[:] = [h for h in handlers if not h.__name__.endswith("gdcm_handler")]
        _configured = True


def in_process_plugins(ts: Any, bits_stored: int = 8) -> tuple[str, ...]:
    """The decoders that may run in this process for ``ts``, best first."""
    from pydicom.pixels import get_decoder

    configure()
    found = [p for p in get_decoder(ts).available_plugins if p not in NEVER_IN_PROCESS]
    order = PREFERENCE
    if str(ts) in PILLOW_FIRST and bits_stored <= 8:
        order = ("pillow", *PREFERENCE)
    return tuple(sorted(found, key=lambda p: order.index(p) if p in order else len(order)))


def _gdcm_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("gdcm") is not None


@dataclass(frozen=True)
class Plan:
    """How frames of one transfer syntax are decoded: in process (with ``plugins``), or isolated."""

    plugins: tuple[str, ...]
    isolated: bool = False

    @property
    def label(self) -> str:
        return "gdcm (isolated process)" if self.isolated else ", ".join(self.plugins) or "pydicom"


def plan(ts: Any, bits_stored: int, name: str) -> Plan:
    """The decoding plan for ``ts``; UnsupportedFormatError when nothing here can decode it."""
    from pydicom import uid as dcm_uid
    from pydicom.pixels import get_decoder

    label = ts_label(ts)
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        raise UnsupportedFormatError(f"{name}: transfer syntax {label} is not supported") from None
    if not ts.is_encapsulated:
        return Plan(())
    plugins = in_process_plugins(ts, bits_stored)
    if ts == dcm_uid.JPEGExtended12Bit and bits_stored > 8:
        # Only libjpeg decodes 12-bit samples (Pillow and GDCM decode 8 bits; GDCM wraps 12-bit undershoots).
        plugins = tuple(p for p in plugins if p == "pylibjpeg" and _has_libjpeg())
        if not plugins:
            raise UnsupportedFormatError(
                f"{name}: 12-bit JPEG Extended images need the pylibjpeg-libjpeg decoder"
            )
    if plugins:
        return Plan(plugins)
    if _gdcm_installed() and ts in _GDCM_SYNTAXES:
        return Plan((), isolated=True)
    missing = "; ".join(getattr(decoder, "missing_dependencies", []) or [])
    hint = f" ({missing})" if missing else ""
    raise UnsupportedFormatError(f"{name}: no decoder installed for {label}{hint}")


def _has_libjpeg() -> bool:
    import importlib.util

    return importlib.util.find_spec("libjpeg") is not None


# What GDCM decodes (pydicom's gdcm plugin list): JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000, RLE.
_GDCM_SYNTAXES: frozenset[str] = frozenset(
    {
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.57",
        "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.80",
        "1.2.840.10008.1.2.4.81",
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.5",
    }
)


# -- the codestream's own idea of the frame size ---------------------------------------------------
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7})


def codestream_shape(frame: bytes) -> tuple[int, int, int] | None:
    """(rows, columns, samples) a JPEG / JPEG-LS / JPEG 2000 frame declares; None when not recognised."""
    try:
        if frame[:2] == b"\xff\xd8":
            return _jpeg_shape(frame)
        if frame[:4] == b"\xff\x4f\xff\x51" and len(frame) >= 42:
            xsiz, ysiz, xo, yo = struct.unpack_from(">LLLL", frame, 8)
            (csiz,) = struct.unpack_from(">H", frame, 40)
            return max(0, ysiz - yo), max(0, xsiz - xo), csiz
        if frame[4:8] == b"jP  ":
            at = frame.find(b"ihdr", 0, 4096)
            if at >= 0 and len(frame) >= at + 14:
                h, w, nc = struct.unpack_from(">LLH", frame, at + 4)
                return h, w, nc
    except struct.error:
        return None
    return None


def _jpeg_shape(frame: bytes) -> tuple[int, int, int] | None:
    pos = 2
    for _ in range(256):
        while pos < len(frame) and frame[pos] == 0xFF and pos + 1 < len(frame) and frame[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 4 > len(frame) or frame[pos] != 0xFF:
            return None
        marker = frame[pos + 1]
        if marker in _SOF:
            if pos + 10 > len(frame):
                return None
            _p, y, x, nf = struct.unpack_from(">BHHB", frame, pos + 4)
            return y, x, nf
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", frame, pos + 2)
        pos += 2 + length
    return None


def check_codestream(frame: bytes, rows: int, cols: int, samples: int, index: int, name: str) -> None:
    """Refuse a compressed frame that declares more pixels or samples than the header (or the budget)."""
    shape = codestream_shape(frame)
    if shape is None:
        return
    r, c, s = shape
    if r == 0:  # JPEG: the height follows in a DNL marker
        r = rows
    if r * c > rows * cols or s > max(samples, 1) or c > cols:
        raise SourceError(
            f"{name}: corrupt or unsupported file: frame {index}'s compressed data is {c} x {r} with {s} "
            f"samples, the header says {cols} x {rows} with {samples}"
        )
    _limits.check_frame(name, c, r, s)
