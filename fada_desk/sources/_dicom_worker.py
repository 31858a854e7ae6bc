"""Decoding with GDCM in a child process, so that its aborts end only the child.

Used only for a transfer syntax that no in-process decoder handles (see
:mod:`._dicom_codecs`). One child per open file, started on the first frame
(``spawn``: a fresh interpreter, nothing inherited), fed one encapsulated
frame at a time; a frame that crashes or hangs the child becomes a
SourceError, and the next frame starts a new child.
"""

from __future__ import annotations

import multiprocessing
import signal
from typing import Any

import numpy as np

from fada_desk.core.errors import SourceError

FRAME_TIMEOUT_S = 60.0


def _serve(conn: Any) -> None:
    """The child: decode (frame, options) requests with GDCM until the pipe closes."""
    import os

    # GDCM prints its C++ exception before aborting; the parent reports the crash in one line instead.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    from pydicom.encaps import encapsulate
    from pydicom.pixels import get_decoder

    while True:
        try:
            frame, opts = conn.recv()
        except (EOFError, OSError):
            return
        try:
            decoder = get_decoder(opts["transfer_syntax_uid"])
            arr, _ = decoder.as_array(
                encapsulate([frame]), index=0, validate=True, raw=False, decoding_plugin="gdcm", **opts
            )
            conn.send(("ok", np.ascontiguousarray(arr)))
        except Exception as err:  # noqa: BLE001 - reported to the parent as one line
            text = str(err).strip().splitlines()
            conn.send(("error", (text[0] if text else type(err).__name__)[:240]))


class IsolatedDecoder:
    """A GDCM child process for one source. Not thread-safe: the source calls it under its lock."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._proc: Any = None
        self._conn: Any = None

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="fada-gdcm-decoder")
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent

    def decode(self, frame: bytes, opts: dict[str, Any], index: int) -> np.ndarray:
        if self._proc is None or not self._proc.is_alive():
            self._start()
        try:
            self._conn.send((frame, opts))
            if not self._conn.poll(FRAME_TIMEOUT_S):
                self.close()
                raise SourceError(
                    f"{self._name}: cannot decode frame {index} (the GDCM decoder hung; killed)"
                )
            status, value = self._conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            code = None
            if self._proc is not None:
                self._proc.join(timeout=5.0)  # reap it: its exit code says how it died
                code = self._proc.exitcode
            self.close()
            raise SourceError(
                f"{self._name}: cannot decode frame {index} (the GDCM decoder crashed{_how(code)}: "
                "the compressed data is damaged)"
            ) from None
        if status != "ok":
            raise SourceError(f"{self._name}: cannot decode frame {index} ({value})")
        return value

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.join(timeout=2.0)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=2.0)


def _how(code: int | None) -> str:
    if code is None or code >= 0:
        return ""
    try:
        return f" with {signal.Signals(-code).name}"
    except ValueError:
        return f" with signal {-code}"
