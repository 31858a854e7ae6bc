"""Clinic header from the app settings file, read without Qt.

The GUI keeps its settings in ``<user data dir>/settings.ini`` (QSettings, ini
format). The clinic identity lives in the ``[clinic]`` section with keys
``name``, ``address``, ``phone``, ``email``; QSettings writes ini values with
C-style escapes and optional double quotes, which are undone here.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from fada_desk.core.paths import user_data_dir
from fada_desk.export.options import ClinicHeader

SETTINGS_FILE = "settings.ini"
SECTION = "clinic"


def _unquote(value: str) -> str:
    v = value.strip()
    if len(v) >= 2 and v[0] == v[-1] == '"':
        v = v[1:-1]
    out, i = [], 0
    while i < len(v):
        c = v[i]
        if c == "\\" and i + 1 < len(v):
            nxt = v[i + 1]
            if nxt == "n":
                out.append("\n")
                i += 2
                continue
            if nxt == "t":
                out.append("\t")
                i += 2
                continue
            if nxt == "x":  # QSettings writes non-Latin-1 as \xHHHH
                j = i + 2
                while j < len(v) and j - i - 2 < 4 and v[j] in "0123456789abcdefABCDEF":
                    j += 1
                if j > i + 2:
                    out.append(chr(int(v[i + 2 : j], 16)))
                    i = j
                    continue
            out.append(nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def load_clinic_header(path: Path | None = None) -> ClinicHeader:
    """The clinic header from the settings file; empty fields when absent or unreadable."""
    path = path or (user_data_dir() / SETTINGS_FILE)
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return ClinicHeader()
    if not parser.has_section(SECTION):
        return ClinicHeader()
    sec = parser[SECTION]
    return ClinicHeader(*(_unquote(sec.get(k, "")) for k in ("name", "address", "phone", "email")))
