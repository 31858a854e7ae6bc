"""GBNF text -> rules: a recursive-descent parser for llama.cpp's grammar dialect.

Supported syntax: rules ``name ::= ...``, ``|``, grouping, ``"literals"`` with
escapes, ``[char classes]`` incl. ranges and ``^`` negation, ``.``,
``* + ? {m} {m,} {m,n}``, ``#`` comments. The result is flat: per rule a list
of alternatives, each a sequence of :class:`CharClass` (one code point) and
:class:`RuleRef` items; repetitions become helper rules. The matcher built on
it is :class:`~fada_desk.inference.llama.grammar.Grammar`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fada_desk.core.errors import FadaError


class GrammarError(FadaError):
    """The grammar text or JSON schema is invalid or unsupported."""


#: Marks the end of an alternative in the matcher's flat element list.
END = ("end",)
_MAX_CP = 0x10FFFF


@dataclass(frozen=True)
class CharClass:
    ranges: tuple[tuple[int, int], ...]
    negated: bool = False

    def match(self, cp: int) -> bool:
        hit = any(lo <= cp <= hi for lo, hi in self.ranges)
        return hit != self.negated

    def may_match_range(self, lo: int, hi: int) -> bool:
        """Could some code point in [lo, hi] match (for partial UTF-8 sequences)?"""
        if not self.negated:
            return any(a <= hi and lo <= b for a, b in self.ranges)
        # negated: fails only if [lo, hi] is entirely covered by the excluded ranges
        cur = lo
        for a, b in sorted(self.ranges):
            if a > cur:
                break
            cur = max(cur, b + 1)
            if cur > hi:
                return False
        return True

    def single(self) -> int | None:
        if not self.negated and len(self.ranges) == 1 and self.ranges[0][0] == self.ranges[0][1]:
            return self.ranges[0][0]
        return None


@dataclass(frozen=True)
class RuleRef:
    rule: int


_ESC = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "[": "[", "]": "]", "-": "-", "^": "^",
        "/": "/", "0": "\0", "'": "'"}


class GbnfParser:
    """Recursive-descent GBNF parser producing flat alternatives of CharClass/RuleRef."""

    def __init__(self, text: str) -> None:
        self.src = text
        self.pos = 0
        self.rule_ids: dict[str, int] = {}
        self.rules: dict[int, list[list[object]]] = {}
        self.defined: set[str] = set()

    # -- helpers
    def _err(self, msg: str) -> GrammarError:
        line = self.src.count("\n", 0, self.pos) + 1
        return GrammarError(f"grammar error line {line}: {msg}")

    def _ws(self, newlines: bool) -> None:
        while self.pos < len(self.src):
            c = self.src[self.pos]
            if c == "#":
                while self.pos < len(self.src) and self.src[self.pos] not in "\r\n":
                    self.pos += 1
            elif c in " \t" or (newlines and c in "\r\n"):
                self.pos += 1
            else:
                break

    def _rule_id(self, name: str) -> int:
        if name not in self.rule_ids:
            self.rule_ids[name] = len(self.rule_ids)
        return self.rule_ids[name]

    def _new_rule(self, base: str, alts: list[list[object]]) -> int:
        i = 0
        while f"{base}_{i}" in self.rule_ids:
            i += 1
        rid = self._rule_id(f"{base}_{i}")
        self.rules[rid] = alts
        return rid

    _NAME = re.compile(r"[a-zA-Z0-9_-]+")

    def _name(self) -> str:
        m = self._NAME.match(self.src, self.pos)
        if not m:
            raise self._err("expected a rule name")
        self.pos = m.end()
        return m.group(0)

    def _char(self) -> int:
        if self.pos >= len(self.src):
            raise self._err("unexpected end of grammar")
        c = self.src[self.pos]
        if c != "\\":
            self.pos += 1
            return ord(c)
        self.pos += 1
        if self.pos >= len(self.src):
            raise self._err("dangling escape")
        e = self.src[self.pos]
        self.pos += 1
        if e in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[e]
            hexs = self.src[self.pos : self.pos + n]
            if len(hexs) != n or not all(h in "0123456789abcdefABCDEF" for h in hexs):
                raise self._err(f"bad \\{e} escape")
            self.pos += n
            return int(hexs, 16)
        if e in _ESC:
            return ord(_ESC[e])
        raise self._err(f"unknown escape \\{e}")

    # -- grammar
    def parse(self) -> tuple[dict[str, int], dict[int, list[list[object]]]]:
        self._ws(True)
        while self.pos < len(self.src):
            name = self._name()
            self._ws(False)
            if not self.src.startswith("::=", self.pos):
                raise self._err(f"expected ::= after {name}")
            self.pos += 3
            self._ws(True)
            rid = self._rule_id(name)
            if name in self.defined:
                raise self._err(f"rule {name} defined twice")
            self.defined.add(name)
            self.rules[rid] = self._alternatives(name, nested=False)
            self._ws(True)
        missing = [n for n in self.rule_ids if self.rule_ids[n] not in self.rules]
        if missing:
            raise GrammarError(f"grammar uses undefined rule(s): {', '.join(sorted(missing))}")
        if "root" not in self.rule_ids:
            raise GrammarError("grammar has no 'root' rule")
        return self.rule_ids, self.rules

    def _alternatives(self, name: str, nested: bool) -> list[list[object]]:
        alts = [self._sequence(name, nested)]
        while self.pos < len(self.src) and self.src[self.pos] == "|":
            self.pos += 1
            self._ws(True)
            alts.append(self._sequence(name, nested))
        return alts

    def _sequence(self, name: str, nested: bool) -> list[object]:
        seq: list[object] = []
        last_start = 0  # index in seq where the last symbol starts (for repetition)
        while self.pos < len(self.src):
            c = self.src[self.pos]
            start = len(seq)
            if c == '"':
                self.pos += 1
                while self.pos < len(self.src) and self.src[self.pos] != '"':
                    cp = self._char()
                    seq.append(CharClass(((cp, cp),)))
                if self.pos >= len(self.src):
                    raise self._err("unterminated string literal")
                self.pos += 1
                if len(seq) - start > 1:  # repetition applies to the whole literal
                    rid = self._new_rule(name, [seq[start:]])
                    del seq[start:]
                    seq.append(RuleRef(rid))
            elif c == "[":
                self.pos += 1
                neg = self.pos < len(self.src) and self.src[self.pos] == "^"
                if neg:
                    self.pos += 1
                ranges = []
                while self.pos < len(self.src) and self.src[self.pos] != "]":
                    lo = self._char()
                    hi = lo
                    if self.src.startswith("-", self.pos) and self.pos + 1 < len(self.src) and \
                            self.src[self.pos + 1] != "]":
                        self.pos += 1
                        hi = self._char()
                    if hi < lo:
                        raise self._err("inverted character range")
                    ranges.append((lo, hi))
                if self.pos >= len(self.src):
                    raise self._err("unterminated character class")
                self.pos += 1
                seq.append(CharClass(tuple(ranges), neg))
            elif c == ".":
                self.pos += 1
                seq.append(CharClass(((0, _MAX_CP),)))
            elif c == "(":
                self.pos += 1
                self._ws(True)
                alts = self._alternatives(name, nested=True)
                if not self.src.startswith(")", self.pos):
                    raise self._err("expected )")
                self.pos += 1
                seq.append(RuleRef(self._new_rule(name, alts)))
            elif self._NAME.match(self.src, self.pos):
                save = self.pos
                ref = self._name()
                self._ws(False)
                if self.src.startswith("::=", self.pos):  # next rule starts: not part of this one
                    self.pos = save
                    break
                self.pos = save
                self._name()
                seq.append(RuleRef(self._rule_id(ref)))
            elif c in "*+?{":
                if len(seq) == 0 or last_start >= len(seq):
                    raise self._err(f"'{c}' without a preceding symbol")
                self._repeat(name, seq, last_start)
                self._ws(nested)
                continue
            else:
                break
            last_start = start
            self._ws(nested)
        return seq

    def _repeat(self, name: str, seq: list[object], start: int) -> None:
        c = self.src[self.pos]
        self.pos += 1
        if c == "{":
            m = re.compile(r"\s*(\d+)\s*(,\s*(\d*)\s*)?}").match(self.src, self.pos)
            if not m:
                raise self._err("bad {m,n} repetition")
            self.pos = m.end()
            lo = int(m.group(1))
            hi: int | None = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
        else:
            lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
        if hi is not None and hi < lo:
            raise self._err("bad repetition bounds")
        item = seq[start:]
        del seq[start:]
        seq.extend(self._expand_repeat(name, item, lo, hi))

    def _expand_repeat(self, name: str, item: list[object], lo: int, hi: int | None) -> list[object]:
        out: list[object] = []
        for _ in range(lo):
            out.extend(item)
        if hi is None:  # star rule: S ::= item S |
            rid = self._rule_id(f"{name}_star_{len(self.rule_ids)}")
            self.rules[rid] = [list(item) + [RuleRef(rid)], []]
            out.append(RuleRef(rid))
        elif hi > lo:  # nested optionals: O1 ::= item O2 | ; ... (linear size)
            nxt: list[object] = []
            for _ in range(hi - lo):
                rid = self._new_rule(name, [list(item) + nxt, []])
                nxt = [RuleRef(rid)]
            out.extend(nxt)
        return out
