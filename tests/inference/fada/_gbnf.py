"""A small GBNF recognizer for tests: does a grammar accept a string?

Supports the llama.cpp GBNF subset the pipeline's grammars use: literals with
escapes, character classes (ranges, negation, escapes), rule references,
groups, alternation and the postfix operators ``* + ? {m} {m,} {m,n}``.
Matching computes the *set* of end positions of every node (memoised), so
ambiguity and nesting are handled without backtracking blow-ups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Lit:
    text: str


@dataclass(frozen=True)
class Cls:
    ranges: tuple[tuple[int, int], ...]
    negated: bool


@dataclass(frozen=True)
class Ref:
    name: str


@dataclass(frozen=True)
class Seq:
    items: tuple


@dataclass(frozen=True)
class Alt:
    options: tuple


@dataclass(frozen=True)
class Rep:
    node: object
    lo: int
    hi: int | None


_ESC = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "[": "[", "]": "]", "-": "-", "/": "/"}


class GrammarError(ValueError):
    pass


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def ws(self, newlines: bool) -> None:
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "#":
                while self.i < len(self.s) and self.s[self.i] != "\n":
                    self.i += 1
            elif c in " \t" or (newlines and c in "\r\n"):
                self.i += 1
            else:
                break

    def name(self) -> str:
        m = re.compile(r"[a-zA-Z0-9-]+").match(self.s, self.i)
        if not m:
            raise GrammarError(f"expected a name at {self.i}: {self.s[self.i : self.i + 20]!r}")
        self.i = m.end()
        return m.group()

    def char(self) -> int:
        c = self.s[self.i]
        if c == "\\":
            e = self.s[self.i + 1]
            if e == "x":
                v = int(self.s[self.i + 2 : self.i + 4], 16)
                self.i += 4
                return v
            if e == "u":
                v = int(self.s[self.i + 2 : self.i + 6], 16)
                self.i += 6
                return v
            if e not in _ESC:
                raise GrammarError(f"unknown escape \\{e}")
            self.i += 2
            return ord(_ESC[e])
        self.i += 1
        return ord(c)

    def rules(self) -> dict[str, object]:
        out: dict[str, object] = {}
        self.ws(True)
        while self.i < len(self.s):
            n = self.name()
            self.ws(False)
            if not self.s.startswith("::=", self.i):
                raise GrammarError(f"expected ::= after {n}")
            self.i += 3
            self.ws(True)
            out[n] = self.alternatives(nested=False)
            self.ws(True)
        return out

    def alternatives(self, nested: bool) -> object:
        opts = [self.sequence(nested)]
        while self.i < len(self.s) and self.s[self.i] == "|":
            self.i += 1
            self.ws(True)
            opts.append(self.sequence(nested))
        return opts[0] if len(opts) == 1 else Alt(tuple(opts))

    def sequence(self, nested: bool) -> object:
        items: list[object] = []
        while self.i < len(self.s):
            self.ws(nested)
            if self.i >= len(self.s):
                break
            c = self.s[self.i]
            if c in "|)" or c in "\r\n":
                break
            if re.match(r"[a-zA-Z0-9-]+\s*::=", self.s[self.i :]):
                break
            if c == '"':
                self.i += 1
                buf = []
                while self.s[self.i] != '"':
                    buf.append(chr(self.char()))
                self.i += 1
                node: object = Lit("".join(buf))
            elif c == "[":
                self.i += 1
                neg = self.s[self.i] == "^"
                if neg:
                    self.i += 1
                ranges = []
                while self.s[self.i] != "]":
                    a = self.char()
                    b = a
                    if self.s[self.i] == "-" and self.s[self.i + 1] != "]":
                        self.i += 1
                        b = self.char()
                    ranges.append((a, b))
                self.i += 1
                node = Cls(tuple(ranges), neg)
            elif c == "(":
                self.i += 1
                self.ws(True)
                node = self.alternatives(nested=True)
                self.ws(True)
                if self.s[self.i] != ")":
                    raise GrammarError(f"expected ) at {self.i}")
                self.i += 1
            else:
                node = Ref(self.name())
            while self.i < len(self.s) and self.s[self.i] in "*+?{":
                op = self.s[self.i]
                if op == "{":
                    m = re.compile(r"\{(\d+)(,(\d*))?\}").match(self.s, self.i)
                    if not m:
                        raise GrammarError(f"bad repetition at {self.i}")
                    lo = int(m.group(1))
                    hi = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
                    self.i = m.end()
                    node = Rep(node, lo, hi)
                else:
                    self.i += 1
                    node = Rep(node, {"*": 0, "+": 1, "?": 0}[op], 1 if op == "?" else None)
            items.append(node)
        return items[0] if len(items) == 1 else Seq(tuple(items))


class Grammar:
    def __init__(self, text: str, root: str = "root") -> None:
        self.rules = _Parser(text).rules()
        self.root = root
        for name in self._refs():
            if name not in self.rules:
                raise GrammarError(f"undefined rule {name!r}")
        if root not in self.rules:
            raise GrammarError("no root rule")

    def _refs(self) -> set[str]:
        found: set[str] = set()

        def walk(n: object) -> None:
            if isinstance(n, Ref):
                found.add(n.name)
            elif isinstance(n, Seq):
                for x in n.items:
                    walk(x)
            elif isinstance(n, Alt):
                for x in n.options:
                    walk(x)
            elif isinstance(n, Rep):
                walk(n.node)

        for r in self.rules.values():
            walk(r)
        return found

    def accepts(self, s: str) -> bool:
        rules = self.rules

        @lru_cache(maxsize=None)
        def ends(node: object, pos: int) -> frozenset[int]:
            if isinstance(node, Lit):
                return frozenset({pos + len(node.text)}) if s.startswith(node.text, pos) else frozenset()
            if isinstance(node, Cls):
                if pos >= len(s):
                    return frozenset()
                o = ord(s[pos])
                inside = any(a <= o <= b for a, b in node.ranges)
                return frozenset({pos + 1}) if inside != node.negated else frozenset()
            if isinstance(node, Ref):
                return ends(rules[node.name], pos)
            if isinstance(node, Seq):
                cur = frozenset({pos})
                for item in node.items:
                    nxt: set[int] = set()
                    for p in cur:
                        nxt |= ends(item, p)
                    if not nxt:
                        return frozenset()
                    cur = frozenset(nxt)
                return cur
            if isinstance(node, Alt):
                out: set[int] = set()
                for o in node.options:
                    out |= ends(o, pos)
                return frozenset(out)
            if isinstance(node, Rep):
                result: set[int] = set()
                frontier = {pos}
                seen: set[tuple[int, int]] = set()
                count = 0
                while frontier:
                    if count >= node.lo:
                        result |= frontier
                    if node.hi is not None and count >= node.hi:
                        break
                    nxt = set()
                    for p in frontier:
                        for e in ends(node.node, p):
                            key = (e, min(count + 1, node.lo))
                            if key not in seen and not (e == p and count >= node.lo):
                                seen.add(key)
                                nxt.add(e)
                    frontier = nxt
                    count += 1
                return frozenset(result)
            raise TypeError(node)

        return len(s) in ends(rules[self.root], 0)
