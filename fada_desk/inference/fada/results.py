"""What an analysis produced, as plain dataclasses that round-trip through JSON.

An :class:`AnalysisResult` is what ``analysis.json`` holds and what the GUI,
the exam store and the exporters consume: per phase the prompt, the raw model
text, what cleaning/repair did, the parsed result in *pixel coordinates of the
original frame*, timings, generation stats and whether it came from the cache;
plus the mapping tier, the image identity, model hashes and settings.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from fada_desk.inference.fada.mapper import ClassMapping
from fada_desk.inference.fada.parsing import Predictions

FORMAT = "fada-desk-analysis/1"



class PhaseState(str, enum.Enum):
    """How a phase ended (``str`` values: they compare equal to, and serialise as, the plain text)."""

    OK = "ok"  # the model answered (parsing may still have found problems: ``parse_errors``)
    ERROR = "error"  # the backend failed; ``error`` says why
    SKIPPED = "skipped"  # not run (no classes for it, or an earlier phase failed); ``error`` says why

    def __str__(self) -> str:
        return self.value


#: Short names (the GUI's).
OK, ERROR, SKIPPED = PhaseState.OK, PhaseState.ERROR, PhaseState.SKIPPED


_NONE = type(None)
_PHASE_TYPES: dict[str, tuple[type, ...]] = {
    "phase": (str,), "status": (str,), "prompt": (str,), "classes": (str, _NONE), "raw_text": (str,),
    "cleaned_text": (str,), "notes": (list,), "truncated": (bool,), "parse_ok": (bool,),
    "parse_errors": (list,), "interpretation": (dict, _NONE), "label": (str, _NONE), "label_source": (str,),
    "predictions": (dict, _NONE), "predictions_norm": (dict, _NONE), "max_tokens": (int,),
    "constrained": (bool,), "seconds": (int, float), "stats": (dict,), "cached": (bool,), "error": (str,),
}


@dataclass
class PhaseResult:
    """One model call (interpret, classify, detect, segment or keypoints)."""

    phase: str
    status: PhaseState = PhaseState.OK
    prompt: str = ""
    classes: str | None = None
    raw_text: str = ""
    cleaned_text: str = ""
    notes: list[str] = field(default_factory=list)  # repairs applied while parsing
    truncated: bool = False
    parse_ok: bool = False
    parse_errors: list[str] = field(default_factory=list)
    interpretation: dict[str, Any] | None = None  # interpret
    label: str | None = None  # classify
    label_source: str = ""
    predictions: Predictions | None = None  # detect/segment/keypoints, pixel coordinates
    predictions_norm: Predictions | None = None  # the same in the model's 0-1000 space
    max_tokens: int = 0
    constrained: bool = False
    seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)
    cached: bool = False
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["status"] = str(self.status)
        d["predictions"] = self.predictions.to_dict() if self.predictions else None
        d["predictions_norm"] = self.predictions_norm.to_dict() if self.predictions_norm else None
        d["notes"] = list(self.notes)
        d["parse_errors"] = list(self.parse_errors)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PhaseResult:
        """Inverse of :meth:`to_dict`; ValueError (saying which field) for a value of the wrong type."""
        if not isinstance(d, dict):
            raise ValueError(f"a phase is {type(d).__name__}, not an object")
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        for key, value in kw.items():
            want = _PHASE_TYPES.get(key)
            if want is not None and (not isinstance(value, want) or (isinstance(value, bool) and bool not in want)):
                raise ValueError(f"phase field {key!r} is {type(value).__name__}")
        for key in ("notes", "parse_errors"):
            if not all(isinstance(v, str) for v in kw.get(key, [])):
                raise ValueError(f"phase field {key!r} holds something other than text")
        if "status" in kw:
            kw["status"] = PhaseState(kw["status"])
        for key in ("predictions", "predictions_norm"):
            if kw.get(key) is not None:
                kw[key] = Predictions.from_dict(kw[key])
        return cls(**kw)


@dataclass
class AnalysisResult:
    """Everything one analysis of one image produced (phases in run order)."""

    image: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    mode: str = "autonomous"
    phases: list[PhaseResult] = field(default_factory=list)
    mapping: ClassMapping | None = None
    created_at: str = ""
    total_seconds: float = 0.0
    app_version: str = ""

    def phase(self, name: str) -> PhaseResult | None:
        """The latest result of phase ``name`` (human-in-the-loop may repeat phases)."""
        for p in reversed(self.phases):
            if p.phase == name:
                return p
        return None

    @property
    def interpretation(self) -> dict[str, Any] | None:
        p = self.phase("interpret")
        return p.interpretation if p else None

    @property
    def classification(self) -> str | None:
        p = self.phase("classify")
        return p.label if p else None

    @property
    def timings(self) -> dict[str, float]:
        return {p.phase: round(p.seconds, 3) for p in self.phases if p.status != PhaseState.SKIPPED}

    @property
    def errors(self) -> list[str]:
        return [f"{p.phase}: {p.error}" for p in self.phases if p.status == PhaseState.ERROR]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "app_version": self.app_version,
            "created_at": self.created_at,
            "mode": self.mode,
            "image": dict(self.image),
            "models": dict(self.models),
            "settings": dict(self.settings),
            "classification": self.classification or ("Unknown" if self.phase("classify") else None),
            "mapping": self.mapping.to_dict() if self.mapping else None,
            "timings": self.timings,
            "total_seconds": round(self.total_seconds, 3),
            "errors": self.errors,
            "phases": [p.to_dict() for p in self.phases],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnalysisResult:
        """Inverse of :meth:`to_dict`; ValueError (with the reason) for anything malformed."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} document")
        try:
            return cls._from_dict(d)
        except (KeyError, TypeError, AttributeError, IndexError, OverflowError, RecursionError) as exc:
            raise ValueError(f"malformed {FORMAT} document ({type(exc).__name__}: {exc})") from None

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> AnalysisResult:
        for key in ("image", "models", "settings"):
            if not isinstance(d.get(key, {}), dict):
                raise ValueError(f"{key!r} is not an object")
        for key in ("mode", "created_at", "app_version"):
            if not isinstance(d.get(key, ""), str):
                raise ValueError(f"{key!r} is not text")
        if not isinstance(d.get("phases", []), list):
            raise ValueError("'phases' is not a list")
        total = d.get("total_seconds", 0.0)
        if isinstance(total, bool) or not isinstance(total, (int, float)):
            raise ValueError("'total_seconds' is not a number")
        return cls(
            image=dict(d.get("image", {})),
            models=dict(d.get("models", {})),
            settings=dict(d.get("settings", {})),
            mode=d.get("mode", "autonomous"),
            phases=[PhaseResult.from_dict(p) for p in d.get("phases", [])],
            mapping=ClassMapping.from_dict(d["mapping"]) if d.get("mapping") else None,
            created_at=d.get("created_at", ""),
            total_seconds=float(d.get("total_seconds", 0.0)),
            app_version=d.get("app_version", ""),
        )


@dataclass(frozen=True)
class TokenChunk:
    """Progress payload while a phase streams: ``text`` is the newest chunk."""

    phase: str
    text: str


@dataclass(frozen=True)
class PhaseDone:
    """Progress payload when a phase finished (the GUI can draw it at once)."""

    result: PhaseResult


@dataclass(frozen=True)
class ChatReply:
    """Answer to one chat message (human-in-the-loop chat mode)."""

    task: str
    text: str
    phases: tuple[PhaseResult, ...] = ()
