"""What every fuzz category shares: cases, outcomes, crash signatures and byte-level mutations.

A :class:`Case` is a seed file plus a tuple of mutation *ops* (plain tuples of
str / int / float / bytes, so they pickle, print and save as JSON). Case ``i``
of category ``c`` in a campaign with seed ``s`` is generated from
``random.Random(f"{s}:{c}:{i}")`` alone, so any single case can be re-created
without running the ones before it.

An :class:`Outcome` is what the real entry point did with the input:

* ``accepted``: it opened / parsed fine;
* ``clean``: a :class:`~fada_desk.core.errors.FadaError` with a one-line message
  (what the GUI and the CLI show the user);
* ``crash``: anything else - another exception type, a FadaError whose
  message is not one line, a result that breaks the entry point's contract, an
  abort or signal of the worker process, or a hang past the timeout. ``kind``
  is a stable signature: what happened, the innermost fada_desk function, and
  the library it happened in (``KeyError @ sources.dicom_meta:regions <- pydicom``).
"""

from __future__ import annotations

import random
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Op = tuple[Any, ...]

PACKAGE = "fada_desk"
ACCEPTED, CLEAN, CRASH = "accepted", "clean", "crash"
_RANK = {ACCEPTED: 0, CLEAN: 1, CRASH: 2}


@dataclass(frozen=True)
class Case:
    category: str
    index: int
    seed: str  # file name in the campaign's seeds folder
    ops: tuple[Op, ...]

    def with_ops(self, ops: tuple[Op, ...]) -> Case:
        return Case(self.category, self.index, self.seed, ops)

    def to_json(self) -> dict[str, Any]:
        return {"category": self.category, "index": self.index, "seed": self.seed,
                "ops": [[_jsonable(v) for v in op] for op in self.ops]}


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return {"hex": v.hex()} if len(v) <= 4096 else {"hex": v[:4096].hex(), "truncated_from": len(v)}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, float) and v != v:
        return "nan"
    return v


@dataclass
class Outcome:
    status: str
    kind: str = ""  # crash signature (empty unless status == "crash")
    message: str = ""  # first line of the error, or what went wrong
    detail: str = ""  # traceback / fault dump / log tail
    stage: str = ""  # which entry point gave this outcome
    peak_rss_mb: float = 0.0  # the worker's high-water mark after the case
    seconds: float = 0.0  # wall time of the case in the worker (timeouts: the timeout)

    @property
    def crashed(self) -> bool:
        return self.status == CRASH


def worst(a: Outcome | None, b: Outcome) -> Outcome:
    """The more severe of two stage outcomes (the first one on a tie)."""
    return b if a is None or _RANK[b.status] > _RANK[a.status] else a


def rng_for(seed: int | str, category: str, index: int) -> random.Random:
    return random.Random(f"{seed}:{category}:{index}")


def n_ops(rng: random.Random, most: int = 4) -> int:
    """How many mutations to stack: mostly one, sometimes up to ``most``."""
    n = 1
    while n < most and rng.random() < 0.35:
        n += 1
    return n


# ---------------------------------------------------------------------------
# Crash signatures
# ---------------------------------------------------------------------------

_PKG_DIR = "/" + PACKAGE + "/"


def _module_of(filename: str) -> tuple[str, bool]:
    """(dotted module, is project code) for a source file path."""
    f = filename.replace("\\", "/")
    if _PKG_DIR in f:
        rel = f.rsplit(_PKG_DIR, 1)[1]
        return rel.removesuffix(".py").replace("/", ".").removesuffix(".__init__"), True
    for marker in ("site-packages/", "dist-packages/"):
        if marker in f:
            return f.rsplit(marker, 1)[1].split("/")[0].removesuffix(".py"), False
    m = re.search(r"/python3\.\d+/(.+)$", f)
    if m:
        return m.group(1).split("/")[0].removesuffix(".py"), False
    return Path(f).stem, False


def signature(what: str, frames: list[tuple[str, str]]) -> str:
    """``what @ <innermost project function> [<- <library it happened in>]``; frames innermost last."""
    project = ""
    for filename, func in reversed(frames):
        mod, ours = _module_of(filename)
        if ours:
            project = f"{mod}:{func}"
            break
    lib = ""
    if frames:
        mod, ours = _module_of(frames[-1][0])
        if not ours and "devtools/fuzz" not in frames[-1][0].replace("\\", "/"):
            lib = mod
    where = project or "harness"
    return f"{what} @ {where}" + (f" <- {lib}" if lib else "")


def exception_outcome(err: BaseException, stage: str) -> Outcome:
    """Classify an exception raised by an entry point."""
    from fada_desk.core.errors import FadaError

    msg = str(err)
    frames = [(fs.filename, fs.name) for fs in traceback.extract_tb(err.__traceback__)]
    detail = "".join(traceback.format_exception(type(err), err, err.__traceback__, limit=-25))
    if isinstance(err, FadaError):
        if msg.strip() and "\n" not in msg.strip():
            return Outcome(CLEAN, message=msg.strip(), stage=stage)
        what = f"{type(err).__name__} without a one-line message"
        return Outcome(CRASH, signature(what, frames), _first(msg), detail, stage)
    return Outcome(CRASH, signature(type(err).__name__, frames), _first(msg) or type(err).__name__,
                   detail, stage)


def invalid(what: str, stage: str, detail: str = "") -> Outcome:
    """A result that breaks the entry point's contract (not an exception, still a crash)."""
    return Outcome(CRASH, f"invalid output: {what} @ {stage}", what, detail, stage)


def _first(text: str, limit: int = 300) -> str:
    text = text.strip()
    return (text.splitlines()[0] if text else "")[:limit]


_FRAME_RE = re.compile(r'^\s+File "(.+)", line \d+ in (\S+)', re.M)


def fault_signature(what: str, dump: str) -> str:
    """Signature from a faulthandler dump (``what`` = SIGABRT, timeout...): the harness thread's stack."""
    blocks = re.split(r"\n(?=(?:Current thread|Thread) 0x)", dump)
    chosen = ""
    for block in blocks:
        if "devtools/fuzz/" in block.replace("\\", "/") and _FRAME_RE.search(block):
            chosen = block
            break
    if not chosen:
        chosen = next((b for b in blocks if b.startswith("Current thread")), blocks[-1] if blocks else "")
    frames = [(m.group(1), m.group(2)) for m in _FRAME_RE.finditer(chosen)]
    frames.reverse()  # faulthandler lists the most recent call first
    return signature(what, frames)


# ---------------------------------------------------------------------------
# Byte-level mutations (any file)
# ---------------------------------------------------------------------------

INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def interesting_bytes(rng: random.Random) -> bytes:
    """A boundary value as 1, 2 or 4 bytes, either byte order."""
    value = rng.choice(INTERESTING)
    width = rng.choice((1, 2, 4))
    value &= (1 << (8 * width)) - 1
    return value.to_bytes(width, rng.choice(("little", "big")))


def byte_op(rng: random.Random, size: int, hot: list[tuple[int, int]] | None = None) -> Op:
    """One random byte-level edit of a ``size``-byte file; ``hot`` ranges (headers) are hit half the time."""
    size = max(size, 1)

    def pos() -> int:
        if hot and rng.random() < 0.5:
            lo, hi = rng.choice(hot)
            return rng.randrange(lo, max(hi, lo + 1))
        return rng.randrange(size)

    r = rng.random()
    if r < 0.35:
        return ("flip", pos(), 1 << rng.randrange(8))
    if r < 0.55:
        return ("set", pos(), interesting_bytes(rng))
    if r < 0.65:
        return ("set", pos(), bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))))
    if r < 0.75:
        return ("truncate", rng.choice((0, 1, 4, 16, 128, 132)) if rng.random() < 0.2 else pos())
    if r < 0.82:
        return ("zero", pos(), rng.choice((1, 4, 64, 512, 4096)))
    if r < 0.88:
        return ("delete", pos(), rng.choice((1, 2, 4, 16, 256)))
    if r < 0.94:
        return ("insert", pos(), interesting_bytes(rng) * rng.choice((1, 3, 64)))
    if r < 0.98:
        return ("dup", pos(), rng.choice((4, 64, 1024)), pos())
    return ("fill", rng.choice((0, 0xFF)))  # a zero-filled file: an interrupted copy


def apply_byte_op(data: bytearray, op: Op) -> bytearray:
    """Apply one op from :func:`byte_op`; positions wrap around so stacked ops always apply."""
    kind = op[0]
    n = len(data)
    if kind == "fill":
        return bytearray(bytes([op[1]]) * n)
    if kind == "truncate":
        return data[: min(op[1], n)]
    if n == 0:
        return data
    p = op[1] % n
    if kind == "flip":
        data[p] ^= op[2]
    elif kind == "set":
        chunk = op[2][: n - p]
        data[p : p + len(chunk)] = chunk
    elif kind == "zero":
        end = min(n, p + op[2])
        data[p:end] = bytes(end - p)
    elif kind == "delete":
        del data[p : p + op[2]]
    elif kind == "insert":
        data[p:p] = op[2]
    elif kind == "dup":
        chunk = bytes(data[p : p + op[2]])
        to = op[3] % n
        data[to:to] = chunk
    else:
        raise ValueError(f"unknown byte op {kind!r}")
    return data


BYTE_OPS = frozenset({"flip", "set", "truncate", "zero", "delete", "insert", "dup", "fill"})


@dataclass
class Seed:
    """A seed input in the campaign's seeds folder; ``weight`` biases how often it is picked."""

    name: str
    weight: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)


def pick_seed(rng: random.Random, seeds: list[Seed]) -> Seed:
    return rng.choices(seeds, weights=[s.weight for s in seeds])[0]


def write_mutated(seed_bytes: bytes, ops: tuple[Op, ...], apply: Callable[[bytes, Op], bytes],
                  workdir: Path, name: str) -> Path:
    """Apply ``ops`` in order to a byte seed and write the input file (named like the seed)."""
    data = seed_bytes
    for op in ops:
        data = apply(data, op)
    path = workdir / ("input" + Path(name).suffix)
    path.write_bytes(data)
    return path
