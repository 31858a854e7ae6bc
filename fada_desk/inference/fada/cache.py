"""On-disk cache of model answers, so re-opening an image never re-runs the model.

Keyed by a SHA-256 over everything that determines the answer: the exact
pixels the model saw, both model files' hashes, the phase, the prompt and the
decoding settings (temperature, top_p, seed, token limit, grammar). Only the
raw text and generation stats are stored; parsing runs again on a hit, so
parser fixes apply to old answers too. One small JSON file per entry under
``<user data dir>/cache/fada/``, written atomically; bounded by entry count
and bytes (least recently used evicted). A corrupt entry is a miss.
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


class ResultCache:
    def __init__(self, root: Path | None = None, max_entries: int = 5000, max_bytes: int = 64 << 20) -> None:
        self.root = Path(root) if root is not None else user_data_dir() / "cache" / "fada"
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            return None
        if not isinstance(data, dict) or data.get("key") != key:
            path.unlink(missing_ok=True)
            return None
        try:
            os.utime(path)  # recently used
        except OSError:
            pass
        return data.get("value")

    def put(self, key: str, value: dict[str, Any]) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # one temporary per thread: two sessions may store the same answer at once
            with AtomicFile(path, tag=f".{os.getpid()}.{threading.get_ident()}") as f:
                f.file.write(json.dumps({"key": key, "value": value}).encode("utf-8"))
                f.commit()
        except OSError:
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
