"""Write a random-weight Qwen3.5 VLM (``Qwen3_5ForConditionalGeneration``) as a HF directory.

Used by the tiny test model and the shape twin: same code path as the real
checkpoint (transformers model class -> safetensors -> vendored converter),
only the dimensions and the vocabulary size differ.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from devtools._qwen_vocab import write_tokenizer_files


@dataclass(frozen=True)
class Qwen35Spec:
    name: str
    n_base_vocab: int | None  # None = the full 248,044 Qwen3.5 ranks
    vocab_size: int  # embedding rows (>= n_base + 33 specials; real model pads to 248320)
    hidden: int
    layers: int
    full_attention_interval: int
    heads: int
    kv_heads: int
    head_dim: int
    linear_k_heads: int
    linear_v_heads: int
    linear_head_dim: int
    ffn: int
    v_depth: int
    v_hidden: int
    v_heads: int
    v_ffn: int
    v_patch: int = 16
    v_merge: int = 2
    v_num_pos: int = 2304
    min_image_tokens: int = 16
    max_image_tokens: int = 16384
    init_std: float = 0.02  # transformers' default init (vision tower, norms)
    text_linear_std: float = 0.1  # text-model projections: large enough that context matters
    embed_std: float = 0.05
    final_norm: float = 3.0  # stored as (1 + w): logits std ~3, neither flat nor one-hot
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _config(spec: Qwen35Spec, ids: dict[str, int]) -> dict[str, Any]:
    text = {
        "model_type": "qwen3_5_text",
        "vocab_size": spec.vocab_size,
        "hidden_size": spec.hidden,
        "intermediate_size": spec.ffn,
        "num_hidden_layers": spec.layers,
        "num_attention_heads": spec.heads,
        "num_key_value_heads": spec.kv_heads,
        "head_dim": spec.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": 262144,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True,
        "attention_bias": False,
        "linear_conv_kernel_dim": 4,
        "linear_key_head_dim": spec.linear_head_dim,
        "linear_value_head_dim": spec.linear_head_dim,
        "linear_num_key_heads": spec.linear_k_heads,
        "linear_num_value_heads": spec.linear_v_heads,
        "layer_types": [
            "full_attention" if (i + 1) % spec.full_attention_interval == 0 else "linear_attention"
            for i in range(spec.layers)
        ],
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000000.0,
            "partial_rotary_factor": 0.25,
            "mrope_interleaved": True,
            "mrope_section": [11, 11, 10],
        },
        "initializer_range": spec.init_std,
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "dtype": "float32",
    }
    vision = {
        "model_type": "qwen3_5_vision",
        "depth": spec.v_depth,
        "hidden_size": spec.v_hidden,
        "hidden_act": "gelu_pytorch_tanh",
        "intermediate_size": spec.v_ffn,
        "num_heads": spec.v_heads,
        "in_channels": 3,
        "patch_size": spec.v_patch,
        "spatial_merge_size": spec.v_merge,
        "temporal_patch_size": 2,
        "out_hidden_size": spec.hidden,
        "num_position_embeddings": spec.v_num_pos,
        "initializer_range": spec.init_std,
    }
    return {
        "architectures": ["Qwen3_5ForConditionalGeneration"],
        "model_type": "qwen3_5",
        "text_config": text,
        "vision_config": vision,
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
        "tie_word_embeddings": True,
    }


def _preprocessor(spec: Qwen35Spec) -> dict[str, Any]:
    px = (spec.v_patch * spec.v_merge) ** 2
    return {
        "image_processor_type": "Qwen2VLImageProcessorFast",
        "do_resize": True,
        "do_rescale": True,
        "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "patch_size": spec.v_patch,
        "merge_size": spec.v_merge,
        "temporal_patch_size": 2,
        "size": {"shortest_edge": spec.min_image_tokens * px, "longest_edge": spec.max_image_tokens * px},
    }


def write_hf_model(spec: Qwen35Spec, out_dir: Path, chat_template: str) -> None:
    """Random-init the model with ``spec`` and save config, weights and tokenizer to ``out_dir``."""
    import torch
    from transformers import Qwen3_5Config, Qwen3_5ForConditionalGeneration

    out_dir.mkdir(parents=True, exist_ok=True)
    ids = write_tokenizer_files(out_dir, spec.n_base_vocab, chat_template)
    if max(ids.values()) >= spec.vocab_size:
        raise ValueError(f"vocab_size {spec.vocab_size} too small for {max(ids.values()) + 1} tokens")
    cfg_dict = _config(spec, ids)
    (out_dir / "preprocessor_config.json").write_text(json.dumps(_preprocessor(spec), indent=1))

    torch.manual_seed(spec.seed)
    config = Qwen3_5Config(**{k: v for k, v in cfg_dict.items() if k not in ("architectures", "model_type")})
    with torch.no_grad():
        model = Qwen3_5ForConditionalGeneration(config)
        model.eval()
        # With the default init a random model just repeats its last input token (the tied
        # embedding dominates the residual stream). These scales give varied, context-dependent
        # greedy output with peaked-but-not-degenerate logits, closer to a trained model.
        for pname, param in model.named_parameters():
            if param.ndim == 2 and "visual" not in pname and "embed" not in pname:
                param.normal_(0.0, spec.text_linear_std)
        model.get_input_embeddings().weight.normal_(0.0, spec.embed_std)
        model.model.language_model.norm.weight.fill_(spec.final_norm)
    if sum(p.numel() for p in model.parameters()) > 50_000_000:
        model = model.to(torch.bfloat16)  # halves disk and converter time for the shape twin
    model.save_pretrained(out_dir, safe_serialization=True)
    cfg_path = out_dir / "config.json"
    saved = json.loads(cfg_path.read_text())
    saved["architectures"] = ["Qwen3_5ForConditionalGeneration"]
    cfg_path.write_text(json.dumps(saved, indent=1))
    (out_dir / "generation_config.json").write_text(json.dumps({
        "eos_token_id": [ids["<|im_end|>"], ids["<|endoftext|>"]], "pad_token_id": ids["<|endoftext|>"],
    }))
