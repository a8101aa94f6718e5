"""Model directory <-> PyTorch model.

A model directory holds config.json (Hugging Face layout, plus an optional
"calm" block naming the early-exit classifier tensors), model.safetensors
(F32, F16 or BF16) and tokenizer.model (SentencePiece).
"""
from __future__ import annotations

import json
import os
import shutil
from typing import Optional

import torch

from .model import T5Config, LlamaConfig, Qwen2Config, T5Model, LlamaModel, build_model, config_from_dict
from .safetensors_io import save_file, load_file

CLASSIFIER_WEIGHT = "calm.classifier.weight"
CLASSIFIER_BIAS = "calm.classifier.bias"
DTYPE_BY_NAME = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
TORCH_DTYPE_NAME = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def config_dict(model) -> dict:
    """config.json contents for a model, in the Hugging Face layout."""
    c = model.cfg
    if isinstance(c, T5Config):
        gated = c.feed_forward_proj == "gated-gelu"
        d = {
            "model_type": "t5",
            "architectures": ["T5ForConditionalGeneration"],
            "vocab_size": c.vocab_size,
            "d_model": c.d_model,
            "d_kv": c.d_kv,
            "d_ff": c.d_ff,
            "num_layers": c.num_layers,
            "num_decoder_layers": c.num_decoder_layers,
            "num_heads": c.num_heads,
            "relative_attention_num_buckets": c.relative_attention_num_buckets,
            "relative_attention_max_distance": c.relative_attention_max_distance,
            "feed_forward_proj": c.feed_forward_proj,
            "dense_act_fn": "gelu_new" if gated else "relu",
            "is_gated_act": gated,
            "tie_word_embeddings": c.tie_word_embeddings,
            "layer_norm_epsilon": c.layer_norm_epsilon,
            "dropout_rate": c.dropout_rate,
            "is_encoder_decoder": True,
            "n_positions": c.n_positions,
            "pad_token_id": c.pad_token_id,
            "eos_token_id": c.eos_token_id,
            "decoder_start_token_id": c.decoder_start_token_id,
        }
    else:
        qwen2 = isinstance(c, Qwen2Config)
        d = {
            "model_type": c.model_type,
            "architectures": ["Qwen2ForCausalLM" if qwen2 else "LlamaForCausalLM"],
            "vocab_size": c.vocab_size,
            "hidden_size": c.hidden_size,
            "intermediate_size": c.intermediate_size,
            "num_hidden_layers": c.num_hidden_layers,
            "num_attention_heads": c.num_attention_heads,
            "num_key_value_heads": c.num_key_value_heads,
            "hidden_act": "silu",
            "rms_norm_eps": c.rms_norm_eps,
            "rope_theta": c.rope_theta,
            "max_position_embeddings": c.max_position_embeddings,
            "tie_word_embeddings": c.tie_word_embeddings,
        }
        if not qwen2:  # Qwen2 has q/k/v biases without a key
            d.update(attention_bias=c.attention_bias, mlp_bias=c.mlp_bias)
        d.update(bos_token_id=c.bos_token_id, eos_token_id=c.eos_token_id)
        if qwen2:  # the window is unused unless switched on
            d.update(sliding_window=c.sliding_window, use_sliding_window=c.use_sliding_window,
                     max_window_layers=c.max_window_layers)
        if c.head_dim:
            d["head_dim"] = c.head_dim
        if c.rope_scaling:
            d["rope_scaling"] = dict(c.rope_scaling)
    if model.classifier is not None:
        d["calm"] = {"classifier": {"weight": CLASSIFIER_WEIGHT, "bias": CLASSIFIER_BIAS}}
    return d


def export_tensors(model) -> dict:
    """State dict under the Hugging Face names (classifier as calm.classifier.*)."""
    out = {}
    for name, t in model.state_dict().items():
        if name.startswith("classifier."):
            name = "calm." + name
        out[name] = t.detach()
    return out


def save_model_dir(model, out_dir: str, tokenizer_path: Optional[str] = None,
                   dtype: str = "F16", metadata: Optional[dict] = None):
    """Write config.json, model.safetensors (dtype F32|F16|BF16) and tokenizer.model."""
    if dtype not in DTYPE_BY_NAME:
        raise ValueError(f"dtype must be one of {list(DTYPE_BY_NAME)}")
    os.makedirs(out_dir, exist_ok=True)
    cfg = config_dict(model)
    cfg["torch_dtype"] = TORCH_DTYPE_NAME[dtype]
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    tensors = {k: v.to(DTYPE_BY_NAME[dtype]) for k, v in export_tensors(model).items()}
    meta = {"format": "pt"}
    if metadata:
        meta.update(metadata)
    save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata=meta)
    if tokenizer_path is not None:
        dst = os.path.join(out_dir, "tokenizer.model")
        if os.path.abspath(tokenizer_path) != os.path.abspath(dst):
            shutil.copyfile(tokenizer_path, dst)


def load_model_dir(model_dir: str, dtype=torch.float32):
    """Build the PyTorch model from a model directory; weights cast to dtype."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfgd = json.load(f)
    model = build_model(config_from_dict(cfgd))
    tensors, _ = load_file(os.path.join(model_dir, "model.safetensors"))
    calm = cfgd.get("calm", {}).get("classifier")
    if calm:
        model.add_classifier()
        tensors["classifier.weight"] = tensors.pop(calm["weight"])
        tensors["classifier.bias"] = tensors.pop(calm["bias"])
    sd = {k: v.to(dtype) for k, v in tensors.items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ValueError(f"{model_dir}: missing tensors {missing}, unexpected {unexpected}")
    return model.to(dtype).eval()
