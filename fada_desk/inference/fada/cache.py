"""On-disk cache of model answers, so re-opening an image never re-runs the model.

Keyed by a SHA-256 over everything that determines the answer: the exact
pixels the model saw, both model files' hashes, the phase, the prompt and the
decoding settings (temperature, top_p, seed, token limit, grammar). Only the
raw text and generation stats are stored; parsing runs again on a hit, so
parser fixes apply to old answers too. One small JSON file per entry under
``<user data dir>/cache/fada/``, written atomically; bounded by entry count
and bytes (least recently used evicted). A corrupt entry (unreadable, not
JSON, nested too deep, wrong types: :func:`cached_answer`) is a miss, never an
error; the raw text of a hit goes through the same parser as a fresh answer.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from fada_desk.core.fileio import AtomicFile, sha256_bytes
from fada_desk.core.paths import user_data_dir

CACHE_VERSION = 1


def cache_key(**parts: Any) -> str:
    """Stable key from JSON-serialisable parts (order independent)."""
    blob = json.dumps({"v": CACHE_VERSION, **parts}, sort_keys=True, separators=(",", ":"), default=str)
    return sha256_bytes(blob.encode("utf-8"))


def cached_answer(hit: dict[str, Any] | None) -> tuple[str, dict[str, Any], float] | None:
    """(raw text, generation stats, seconds) of a cache value, or None when any of it is malformed
    (a miss: the answer is generated again)."""
    if not isinstance(hit, dict):
        return None
    raw, stats, seconds = hit.get("raw_text"), hit.get("stats", {}), hit.get("seconds", 0.0)
    if not isinstance(raw, str) or not isinstance(stats, dict):
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < 1e9:
        return None
    return raw, dict(stats), float(seconds)


class ResultCache:
    def __init__(self, root: Path | None = None, max_entries: int = 5000, max_bytes: int = 64 << 20) -> None:
        self.root = Path(root) if root is not None else user_data_dir() / "cache" / "fada"
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored value (a dict), or None: missing, or corrupt in any way (then removed)."""
        path = self._path(key)
        try:
            if path.stat().st_size > self.max_bytes:
                raise ValueError("larger than the whole cache")
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError):  # unreadable, not JSON, too deep, huge numbers
            self._drop(path)
            return None
        if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("value"), dict):
            self._drop(path)
            return None
        try:
            os.utime(path)  # recently used
        except OSError:
            pass
        return data["value"]

    @staticmethod
    def _drop(path: Path) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass  # e.g. a read-only cache: still just a miss

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` (a JSON-serialisable dict); a value that cannot be stored is not cached."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # one temporary per thread: two sessions may store the same answer at once
            blob = json.dumps({"key": key, "value": value}).encode("utf-8")
            with AtomicFile(path, tag=f".{os.getpid()}.{threading.get_ident()}") as f:
                f.file.write(blob)
                f.commit()
        except (OSError, ValueError, TypeError, RecursionError):
            return  # a cache that cannot be written is just a slower cache
        self._prune()

    def _entries(self) -> list[tuple[float, int, Path]]:
        out = []
        for p in self.root.glob("*/*.json"):
            try:
                st = p.stat()
            except OSError:
                continue
            out.append((st.st_mtime, st.st_size, p))
        return out

    def _prune(self) -> None:
        with self._lock:
            entries = self._entries()
            total = sum(e[1] for e in entries)
            if len(entries) <= self.max_entries and total <= self.max_bytes:
                return
            entries.sort()  # oldest first
            while entries and (len(entries) > self.max_entries or total > self.max_bytes):
                _, size, p = entries.pop(0)
                p.unlink(missing_ok=True)
                total -= size

    def clear(self) -> None:
        for _, _, p in self._entries():
            p.unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self._entries())
