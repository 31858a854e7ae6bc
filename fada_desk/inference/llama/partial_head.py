"""Logits for a few tokens without llama.cpp's full output layer.

Where the output grammar admits only a few tokens (inside numbers, between
JSON values, at keys and brackets), the model's logits over the whole
248k-token vocabulary are wasted work: the output layer (a 1024 x 248320
matrix) costs ~8 ms of a ~21-27 ms token on a 2-core CPU, and the sampler
only looks at the allowed tokens anyway. This module lets the backend skip
it: the token is decoded without requesting logits (llama.cpp then runs no
output layer), the final normalised hidden state is read back, and the
logits of just the allowed tokens are computed here from their rows of the
output matrix, dequantized by ggml's own ``to_float`` for the tensor's type.

It relies on llama.cpp's hidden-state extraction (``llama_set_embeddings_nextn``,
an extension entry point of the pinned llama.cpp build, exported with C++
linkage) and on the model's hidden state being exactly the output layer's
input (true for the qwen35 graph). Both are checked when the model loads:
:meth:`PartialHead.self_test` compares these logits with llama.cpp's for the
same position, and the backend falls back to full logits if anything is
missing or differs beyond quantization noise.
"""

from __future__ import annotations

import ctypes
import mmap
from pathlib import Path
from typing import Any

import numpy as np

from fada_desk.inference.llama.gguf_info import GGML_TYPE_SIZES, GGUFInfo

# C++-mangled names of llama-ext.h functions: Itanium (Linux/macOS), MSVC (Windows).
_SET_NEXTN = ("_Z26llama_set_embeddings_nextnP13llama_contextbb",
              "?llama_set_embeddings_nextn@@YAXPEAUllama_context@@_N1@Z")
_GET_NEXTN_ITH = ("_Z30llama_get_embeddings_nextn_ithP13llama_contexti",
                  "?llama_get_embeddings_nextn_ith@@YAPEAMPEAUllama_context@@H@Z")

_F32, _F16 = 0, 1
_LEGACY_QUANTS = frozenset({2, 3, 6, 7, 8})  # Q4_0 Q4_1 Q5_0 Q5_1 Q8_0: dotted with Q8_0/Q8_1 activations
_KQUANTS = frozenset({10, 11, 12, 13, 14, 15})  # Q2_K..Q8_K: dotted with Q8_K activations


def _q8(x: np.ndarray, block: int) -> np.ndarray:
    """Round ``x`` like ggml's 8-bit activation blocks (scale from the largest magnitude, round to nearest)."""
    if len(x) % block:
        return x
    b = x.reshape(-1, block).astype(np.float32)
    idx = np.argmax(np.abs(b), axis=1)
    mx = b[np.arange(len(b)), idx]
    if block == 256:  # Q8_K: iscale = -127/max (signed), q = nearest(iscale * x) clamped to 127, d = 1/iscale
        with np.errstate(divide="ignore", invalid="ignore"):
            iscale = np.where(mx != 0, np.float32(-127.0) / mx, np.float32(0.0)).astype(np.float32)
        q = np.minimum(np.rint(b * iscale[:, None]), 127)
        d = np.where(iscale != 0, np.float32(1.0) / iscale, np.float32(0.0)).astype(np.float32)
    else:  # Q8_0: d = amax/127 (stored as f16), q = round(x / d)
        d = (np.abs(mx) / np.float32(127.0)).astype(np.float16).astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(d != 0, np.float32(1.0) / d, np.float32(0.0)).astype(np.float32)
        q = np.rint(b * inv[:, None])
    return (q * d[:, None]).astype(np.float32).reshape(-1)


class _TypeTraits(ctypes.Structure):
    _fields_ = [
        ("type_name", ctypes.c_char_p),
        ("blck_size", ctypes.c_int64),
        ("blck_size_interleave", ctypes.c_int64),
        ("type_size", ctypes.c_size_t),
        ("is_quantized", ctypes.c_bool),
        ("to_float", ctypes.c_void_p),
        ("from_float_ref", ctypes.c_void_p),
    ]


_TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_int64)


def _symbol(lib: Any, names: tuple[str, ...]) -> Any:
    for n in names:
        try:
            return getattr(lib, n)
        except AttributeError:
            continue
    return None


def _ggml_base() -> Any:
    """libggml-base from the llama_cpp package (already loaded by libllama)."""
    import llama_cpp

    libdir = Path(llama_cpp.__file__).resolve().parent / "lib"
    for name in ("libggml-base.so", "libggml-base.dylib", "ggml-base.dll"):
        p = libdir / name
        if p.exists():
            return ctypes.CDLL(str(p))
    raise OSError("libggml-base not found next to llama_cpp")


class PartialHeadUnavailable(RuntimeError):
    """This build or model cannot compute partial logits (the caller uses full logits)."""


class PartialHead:
    """Rows of the output matrix on demand, and logits for chosen tokens from a hidden state."""

    MAX_ROWS = 32768  # dequantized rows kept (x n_embd x 4 bytes: 128 MB at n_embd 1024)

    def __init__(self, lib: Any, ctx: Any, info: GGUFInfo) -> None:
        self._set = _symbol(lib, _SET_NEXTN)
        self._get = _symbol(lib, _GET_NEXTN_ITH)
        if self._set is None or self._get is None:
            raise PartialHeadUnavailable("this llama.cpp build does not export the hidden-state entry points")
        self._set.argtypes = [ctypes.c_void_p, ctypes.c_bool, ctypes.c_bool]
        self._set.restype = None
        self._get.argtypes = [ctypes.c_void_p, ctypes.c_int32]
        self._get.restype = ctypes.POINTER(ctypes.c_float)
        if info.architecture != "qwen35":
            raise PartialHeadUnavailable(f"not verified for architecture {info.architecture!r}")
        name = "output.weight" if "output.weight" in info.tensors else "token_embd.weight"
        if name not in info.tensors or any(k.startswith("output.") and k != "output.weight" for k in info.tensors):
            raise PartialHeadUnavailable("unexpected output layer tensors")
        dims, ttype, offset = info.tensors[name]
        if len(dims) != 2 or ttype not in GGML_TYPE_SIZES:
            raise PartialHeadUnavailable(f"unsupported output tensor {name} (type {ttype})")
        self.n_embd, self.n_vocab = int(dims[0]), int(dims[1])
        block, nbytes = GGML_TYPE_SIZES[ttype]
        if self.n_embd % block:
            raise PartialHeadUnavailable("output rows are not whole quantization blocks")
        self._type = ttype
        self._row_bytes = self.n_embd // block * nbytes
        self._offset = offset
        if offset + self._row_bytes * self.n_vocab > info.file_size:
            raise PartialHeadUnavailable("output tensor extends past the end of the file")
        self._to_float: Any = None
        if ttype not in (_F32, _F16):
            base = _ggml_base()
            base.ggml_get_type_traits.restype = ctypes.POINTER(_TypeTraits)
            base.ggml_get_type_traits.argtypes = [ctypes.c_int]
            traits = base.ggml_get_type_traits(ttype).contents
            if not traits.to_float or traits.type_size != nbytes or traits.blck_size != block:
                raise PartialHeadUnavailable(f"ggml cannot dequantize type {ttype}")
            self._to_float = _TO_FLOAT(traits.to_float)
            self._base = base  # keep the library alive with the function pointer
        self._file = open(info.path, "rb")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self._rows = np.zeros((0, self.n_embd), dtype=np.float32)
        self._row_of: dict[int, int] = {}
        self._ctx = ctx
        self._set(ctx, True, False)  # hidden state of every evaluated token (not only logit rows)

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx = None
        try:
            self._map.close()
        finally:
            self._file.close()

    # -- rows
    def _dequantize(self, token: int) -> np.ndarray:
        start = self._offset + token * self._row_bytes
        raw = self._map[start : start + self._row_bytes]
        if self._type == _F32:
            return np.frombuffer(raw, dtype="<f4").astype(np.float32)
        if self._type == _F16:
            return np.frombuffer(raw, dtype="<f2").astype(np.float32)
        out = np.empty(self.n_embd, dtype=np.float32)
        src = ctypes.create_string_buffer(raw, len(raw))
        self._to_float(ctypes.cast(src, ctypes.c_void_p), out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                       self.n_embd)
        return out

    def rows(self, ids: np.ndarray) -> np.ndarray | None:
        """Row indices into the cache for ``ids`` (dequantizing new ones); None if the cache is full."""
        missing = [int(t) for t in ids.tolist() if int(t) not in self._row_of]
        if missing:
            if len(self._row_of) + len(missing) > self.MAX_ROWS:
                return None
            new = np.stack([self._dequantize(t) for t in missing])
            base = len(self._rows)
            self._rows = np.concatenate([self._rows, new]) if base else new
            for i, t in enumerate(missing):
                self._row_of[t] = base + i
        return np.fromiter((self._row_of[int(t)] for t in ids.tolist()), dtype=np.int64, count=len(ids))

    # -- logits
    def hidden(self, row: int) -> np.ndarray:
        """The normalised hidden state of batch row ``row`` of the last llama_decode."""
        ptr = self._get(self._ctx, row)
        if not ptr:
            raise PartialHeadUnavailable("llama.cpp returned no hidden state")
        return np.ctypeslib.as_array(ptr, shape=(self.n_embd,)).copy()

    def _as_llama_sees_it(self, h: np.ndarray) -> np.ndarray:
        """The hidden state rounded the way ggml's CPU dot products round it for this weight type.

        ggml multiplies quantized rows with an 8-bit copy of the activations (Q8_K
        blocks of 256 for k-quants, Q8_0 blocks of 32 for the legacy types) and
        F16 rows with an F16 copy. Doing the same here makes these logits agree
        with llama.cpp's to float rounding instead of to ~2% of their spread.
        """
        if self._type in _KQUANTS:
            return _q8(h, 256)
        if self._type in _LEGACY_QUANTS:
            return _q8(h, 32)
        if self._type == _F16:
            return h.astype(np.float16).astype(np.float32)
        return h

    def logits(self, ids: np.ndarray, row: int) -> np.ndarray | None:
        """Logits of tokens ``ids`` for batch row ``row``; None when they cannot be computed here."""
        idx = self.rows(ids)
        if idx is None:
            return None
        # einsum, not ``@``: numpy's ``@`` goes to OpenBLAS, whose worker threads keep spinning after
        # the call and took a core from llama.cpp's next 2-thread step (39 vs 22 ms per token measured
        # on the twin); these products are small enough for one thread.
        return np.einsum("ij,j->i", self._rows[idx], self._as_llama_sees_it(self.hidden(row)))

    def max_error(self, full_logits: np.ndarray, row: int, ids: np.ndarray) -> float:
        """Largest |llama.cpp logit - partial logit| over ``ids``, relative to the logits' spread."""
        part = self.logits(ids, row)
        if part is None:
            return float("inf")
        ref = full_logits[ids].astype(np.float64)
        scale = max(1.0, float(np.std(full_logits)))
        return float(np.max(np.abs(ref - part)) / scale)
