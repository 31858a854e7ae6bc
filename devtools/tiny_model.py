"""The tiny random-weight Qwen3.5 VLM used by the test suite (a few MB, builds in ~1 min).

Same architecture family as the real FADA model (``qwen35`` text model with
3 linear-attention + 1 full-attention layers, ``qwen3vl`` projector), the real
Qwen3.5 tokenizer truncated to 4096 ranks + all special tokens, converted with
the vendored llama.cpp converter and quantized to Q4_K_M with llama.cpp's
quantizer, exactly like production files. Usage::

    python -m devtools.tiny_model [--cache tests/.model_cache]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devtools._hf_qwen35 import Qwen35Spec

TINY = Qwen35Spec(
    name="tiny-qwen35",
    n_base_vocab=4096,
    vocab_size=4160,  # 4096 ranks + 33 specials, padded to a multiple of 64 like the real model
    hidden=256,  # multiple of 256 so Q4_K/Q6_K apply as in the real model
    layers=4,
    full_attention_interval=4,
    heads=4,
    kv_heads=2,
    head_dim=64,
    linear_k_heads=2,
    linear_v_heads=4,  # != k heads: exercises the converter's V-head reordering
    linear_head_dim=32,
    ffn=512,
    v_depth=2,
    v_hidden=64,
    v_heads=2,
    v_ffn=128,
    min_image_tokens=16,
    max_image_tokens=256,
)

DEFAULT_CACHE = Path(__file__).resolve().parent.parent / "tests" / ".model_cache"


def build_tiny_model(cache_root: Path = DEFAULT_CACHE, quant: str | None = "Q4_K_M") -> tuple[Path, Path]:
    from devtools._build import build

    return build(cache_root, TINY, quant)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--quant", default="Q4_K_M", help="llama.cpp ftype, or 'none' for F16")
    args = ap.parse_args(argv)
    quant = None if args.quant.lower() == "none" else args.quant
    model, mmproj = build_tiny_model(args.cache, quant)
    print(model)
    print(mmproj)
    return 0


if __name__ == "__main__":
    sys.exit(main())
