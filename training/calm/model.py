"""PyTorch twin of the two CALM Studio architectures, llama2.c style.

Both models follow Hugging Face semantics exactly (the C++ engine implements
the same maths, and the parity fixtures are produced from this file):

  T5Model     encoder-decoder, T5 v1.1 (T5ForConditionalGeneration)
  LlamaModel  decoder-only, Llama (LlamaForCausalLM)

CALM: every decoder layer is an exit. Exit i (1..L) predicts
    logits_i = W . final_norm(h_i)        (times d_model**-0.5 for tied T5)
with h_i the residual stream after decoder layer i; the final norm and the
vocabulary projection W are shared by all exits. An optional early-exit
classifier c = sigmoid(v . h_i + b) reads the RAW (pre-norm) h_i.

Read top to bottom: shared pieces, T5, Llama, CALM losses, greedy generation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, asdict
from typing import List, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F


# ----------------------------------------------------------------------------
# Configurations (field names follow the Hugging Face config.json keys)

@dataclass
class T5Config:
    vocab_size: int = 128
    d_model: int = 32
    d_kv: int = 8
    d_ff: int = 64
    num_layers: int = 2            # encoder
    num_decoder_layers: int = 3    # decoder = the exits
    num_heads: int = 4
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    feed_forward_proj: str = "gated-gelu"   # or "relu"
    tie_word_embeddings: bool = False
    layer_norm_epsilon: float = 1e-6
    dropout_rate: float = 0.0
    n_positions: int = 512
    pad_token_id: int = 0
    eos_token_id: int = 1
    decoder_start_token_id: int = 0
    model_type: str = field(default="t5", init=False)


@dataclass
class LlamaConfig:
    vocab_size: int = 128
    hidden_size: int = 32
    intermediate_size: int = 64
    num_hidden_layers: int = 3
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    max_position_embeddings: int = 512
    tie_word_embeddings: bool = False
    bos_token_id: int = 1
    eos_token_id: Union[int, List[int]] = 2   # Llama 3 lists several
    # Hugging Face variants: head_dim when it is not hidden_size / heads;
    # rope_scaling {"rope_type": "linear"|"dynamic"|"llama3", "factor": ..., ...}.
    head_dim: Optional[int] = None
    rope_scaling: Optional[dict] = None
    # Biases (LlamaConfig's attention_bias: q, k, v and o; mlp_bias: gate, up, down).
    attention_bias: bool = False
    mlp_bias: bool = False
    model_type: str = field(default="llama", init=False)

    @property
    def attention_head_dim(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def qkv_bias(self) -> bool:
        return self.attention_bias

    @property
    def o_bias(self) -> bool:
        return self.attention_bias


@dataclass
class Qwen2Config(LlamaConfig):
    """Qwen2ForCausalLM: Llama's layout with q/k/v biases always (no o bias,
    no MLP bias, no attention_bias key), and no beginning-of-sequence token
    added to a prompt (its tokenizer adds none). use_sliding_window false, the
    released checkpoints' setting, means full attention."""
    rope_theta: float = 1000000.0
    sliding_window: int = 4096
    use_sliding_window: bool = False
    max_window_layers: int = 28
    model_type: str = field(default="qwen2", init=False)

    def __post_init__(self):
        if self.attention_bias or self.mlp_bias:
            raise ValueError("Qwen2 has no attention_bias / mlp_bias switch")
        if self.use_sliding_window:
            raise ValueError("the twin implements Qwen2's full attention only")

    @property
    def qkv_bias(self) -> bool:
        return True

    @property
    def o_bias(self) -> bool:
        return False


# ----------------------------------------------------------------------------
# Shared pieces

class RMSNorm(nn.Module):
    """x * rsqrt(mean(x^2) + eps) * w: no mean subtraction, no bias (T5 and Llama)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


class Classifier(nn.Module):
    """CALM stage-2 early-exit head, shared by all layers: sigmoid(w . h + b) on raw h."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim))   # (d_model,)
        self.bias = nn.Parameter(torch.zeros(1))       # (1,)

    def forward(self, h):  # h (..., d) -> probabilities (...)
        return torch.sigmoid(h @ self.weight + self.bias[0])


# ----------------------------------------------------------------------------
# T5 v1.1

def t5_relative_position_bucket(relative_position, bidirectional, num_buckets, max_distance):
    """Hugging Face T5Attention._relative_position_bucket, verbatim semantics.
    relative_position = key_pos - query_pos (long tensor)."""
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    large = max_exact + (
        torch.log(relative_position.float() / max_exact)
        / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    buckets += torch.where(is_small, relative_position, large)
    return buckets


class T5Attention(nn.Module):
    """Multi-head attention without score scaling (T5 folds it into the init).
    Only block 0 of a stack owns relative_attention_bias; the stack passes the
    resulting position bias to every layer."""

    def __init__(self, cfg: T5Config, has_relative_bias: bool, bidirectional: bool):
        super().__init__()
        self.h, self.dk = cfg.num_heads, cfg.d_kv
        inner = cfg.num_heads * cfg.d_kv
        self.q = nn.Linear(cfg.d_model, inner, bias=False)
        self.k = nn.Linear(cfg.d_model, inner, bias=False)
        self.v = nn.Linear(cfg.d_model, inner, bias=False)
        self.o = nn.Linear(inner, cfg.d_model, bias=False)
        self.bidirectional = bidirectional
        self.num_buckets = cfg.relative_attention_num_buckets
        self.max_distance = cfg.relative_attention_max_distance
        if has_relative_bias:
            self.relative_attention_bias = nn.Embedding(self.num_buckets, self.h)  # (buckets, heads)

    def compute_bias(self, q_len, k_len, q_offset=0):
        """(1, heads, q_len, k_len); query i sits at position q_offset + i."""
        dev = self.relative_attention_bias.weight.device
        ctx = torch.arange(q_offset, q_offset + q_len, dtype=torch.long, device=dev)[:, None]
        mem = torch.arange(k_len, dtype=torch.long, device=dev)[None, :]
        b = t5_relative_position_bucket(mem - ctx, self.bidirectional, self.num_buckets, self.max_distance)
        return self.relative_attention_bias(b).permute(2, 0, 1).unsqueeze(0)

    def split(self, x):  # (B, T, h*dk) -> (B, h, T, dk)
        B, T, _ = x.shape
        return x.view(B, T, self.h, self.dk).transpose(1, 2)

    def forward(self, x, kv_input=None, bias=None, cache=None):
        """x (B, Tq, d). kv_input: encoder output for cross attention (None = self).
        bias: additive (1|B, h, Tq, Tk) position bias + mask. cache: dict with
        'k','v' (B, h, Tpast, dk) to extend (self-attention) or reuse (cross)."""
        q = self.split(self.q(x))
        if kv_input is None:
            k, v = self.split(self.k(x)), self.split(self.v(x))
            if cache is not None:
                if "k" in cache:
                    k = torch.cat([cache["k"], k], dim=2)
                    v = torch.cat([cache["v"], v], dim=2)
                cache["k"], cache["v"] = k, v
        else:
            if cache is not None and "k" in cache:
                k, v = cache["k"], cache["v"]
            else:
                k, v = self.split(self.k(kv_input)), self.split(self.v(kv_input))
                if cache is not None:
                    cache["k"], cache["v"] = k, v
        scores = q @ k.transpose(-1, -2)          # no 1/sqrt(d_kv)
        if bias is not None:
            scores = scores + bias
        attn = F.softmax(scores.float(), dim=-1).to(scores.dtype)
        out = (attn @ v).transpose(1, 2).reshape(x.shape[0], x.shape[1], self.h * self.dk)
        return self.o(out)


class T5DenseReluDense(nn.Module):
    """'gated-gelu': wo(gelu_tanh(wi_0 x) * wi_1 x); 'relu': wo(relu(wi x))."""

    def __init__(self, cfg: T5Config):
        super().__init__()
        self.gated = cfg.feed_forward_proj == "gated-gelu"
        if self.gated:
            self.wi_0 = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
            self.wi_1 = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        elif cfg.feed_forward_proj == "relu":
            self.wi = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        else:
            raise ValueError(f"feed_forward_proj {cfg.feed_forward_proj!r} not supported")
        self.wo = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)
        self.dropout = nn.Dropout(cfg.dropout_rate)

    def forward(self, x):
        if self.gated:
            h = F.gelu(self.wi_0(x), approximate="tanh") * self.wi_1(x)
        else:
            h = F.relu(self.wi(x))
        return self.wo(self.dropout(h))


class T5SubLayer(nn.Module):
    """Pre-norm residual wrapper; the attribute names give HF's tensor names
    (layer.{j}.SelfAttention / EncDecAttention / DenseReluDense, layer.{j}.layer_norm)."""

    def __init__(self, cfg: T5Config, kind: str, has_relative_bias=False, bidirectional=True):
        super().__init__()
        self.kind = kind
        if kind == "self":
            self.SelfAttention = T5Attention(cfg, has_relative_bias, bidirectional)
        elif kind == "cross":
            self.EncDecAttention = T5Attention(cfg, False, True)
        else:
            self.DenseReluDense = T5DenseReluDense(cfg)
        self.layer_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.dropout = nn.Dropout(cfg.dropout_rate)

    def forward(self, x, **kw):
        y = self.layer_norm(x)
        if self.kind == "self":
            y = self.SelfAttention(y, **kw)
        elif self.kind == "cross":
            y = self.EncDecAttention(y, **kw)
        else:
            y = self.DenseReluDense(y)
        return x + self.dropout(y)


class T5Block(nn.Module):
    def __init__(self, cfg: T5Config, is_decoder: bool, has_relative_bias: bool):
        super().__init__()
        subs = [T5SubLayer(cfg, "self", has_relative_bias, bidirectional=not is_decoder)]
        if is_decoder:
            subs.append(T5SubLayer(cfg, "cross"))
        subs.append(T5SubLayer(cfg, "ff"))
        self.layer = nn.ModuleList(subs)
        self.is_decoder = is_decoder

    def forward(self, x, self_bias, enc=None, cross_bias=None, cache=None):
        x = self.layer[0](x, bias=self_bias, cache=None if cache is None else cache["self"])
        if self.is_decoder:
            x = self.layer[1](x, kv_input=enc, bias=cross_bias,
                              cache=None if cache is None else cache["cross"])
        return self.layer[-1](x)


class T5Stack(nn.Module):
    def __init__(self, cfg: T5Config, n_layers: int, is_decoder: bool):
        super().__init__()
        self.block = nn.ModuleList(
            [T5Block(cfg, is_decoder, has_relative_bias=(i == 0)) for i in range(n_layers)])
        self.final_layer_norm = RMSNorm(cfg.d_model, cfg.layer_norm_epsilon)
        self.dropout = nn.Dropout(cfg.dropout_rate)

    def position_bias(self, q_len, k_len, q_offset=0):
        return self.block[0].layer[0].SelfAttention.compute_bias(q_len, k_len, q_offset)


class T5Model(nn.Module):
    """T5 v1.1. Parameter names match T5ForConditionalGeneration's state dict
    (shared.weight, encoder.block.0.layer.0.SelfAttention.q.weight, ...)."""

    arch = "t5"

    def __init__(self, cfg: T5Config):
        super().__init__()
        self.cfg = cfg
        self.shared = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.encoder = T5Stack(cfg, cfg.num_layers, is_decoder=False)
        self.decoder = T5Stack(cfg, cfg.num_decoder_layers, is_decoder=True)
        if not cfg.tie_word_embeddings:
            self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.classifier: Optional[Classifier] = None

    @property
    def num_exits(self):
        return self.cfg.num_decoder_layers

    @property
    def d_model(self):
        return self.cfg.d_model

    def add_classifier(self):
        self.classifier = Classifier(self.cfg.d_model).to(self.shared.weight)
        return self.classifier

    # -- pieces the CALM loop uses -------------------------------------------------
    def final_norm(self, h):
        return self.decoder.final_layer_norm(h)

    def project(self, h_normed):
        """Vocabulary projection of already-normed states (tied: scaled by d**-0.5)."""
        if self.cfg.tie_word_embeddings:
            return (h_normed * self.cfg.d_model ** -0.5) @ self.shared.weight.t()
        return self.lm_head(h_normed)

    def exit_logits(self, h):
        return self.project(self.final_norm(h))

    def encode(self, input_ids, attention_mask=None):
        """input_ids (B, S) -> encoder output (B, S, d) after the final norm."""
        x = self.encoder.dropout(self.shared(input_ids))
        S = input_ids.shape[1]
        bias = self.encoder.position_bias(S, S)
        if attention_mask is not None:
            bias = bias + self._mask_bias(attention_mask, x.dtype)
        for blk in self.encoder.block:
            x = blk(x, bias)
        return self.encoder.dropout(self.encoder.final_layer_norm(x))

    @staticmethod
    def _mask_bias(attention_mask, dtype):  # (B, S) 1/0 -> (B, 1, 1, S) additive
        return (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min

    def decode_hidden(self, decoder_input_ids, enc, enc_mask=None, cache=None, offset=0):
        """Decoder residual streams after every layer: list of L tensors (B, T, d).
        With a cache (from new_cache()), decoder_input_ids are the new positions
        starting at `offset`."""
        x = self.decoder.dropout(self.shared(decoder_input_ids))
        T = decoder_input_ids.shape[1]
        k_len = offset + T
        bias = self.decoder.position_bias(T, k_len, q_offset=offset)
        causal = torch.ones(T, k_len, dtype=torch.bool, device=x.device).tril(diagonal=offset)
        bias = bias.masked_fill(~causal, torch.finfo(bias.dtype).min)
        cross_bias = None if enc_mask is None else self._mask_bias(enc_mask, x.dtype)
        hs = []
        for i, blk in enumerate(self.decoder.block):
            x = blk(x, bias, enc=enc, cross_bias=cross_bias,
                    cache=None if cache is None else cache[i])
            hs.append(x)
        return hs

    def new_cache(self):
        return [{"self": {}, "cross": {}} for _ in range(self.cfg.num_decoder_layers)]

    def forward(self, input_ids, decoder_input_ids, attention_mask=None, all_logits=True):
        """Teacher-forced pass. Returns dict: hidden (L, B, T, d) raw residual
        streams, logits (L, B, T, V) per exit (or only the top one when
        all_logits=False: (1, B, T, V)), encoder_output (B, S, d)."""
        enc = self.encode(input_ids, attention_mask)
        hs = self.decode_hidden(decoder_input_ids, enc, attention_mask)
        hidden = torch.stack(hs)
        top = [hs[-1]] if not all_logits else hs
        logits = torch.stack([self.exit_logits(h) for h in top])
        return {"hidden": hidden, "logits": logits, "encoder_output": enc}


# ----------------------------------------------------------------------------
# Llama

def rope_inv_freq(head_dim, theta, scaling=None, seq_len=0, max_positions=0, device=None):
    """Rotary frequencies as Hugging Face's rope initialisers compute them
    (modeling_rope_utils: default, linear, dynamic, llama3), in float64."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64, device=device) / head_dim))
    if not scaling:
        return inv_freq
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    factor = float(scaling.get("factor", 1.0))
    if kind == "default":
        return inv_freq
    if kind == "linear":
        return inv_freq / factor
    if kind == "dynamic":
        # NTK-aware: the base grows once the sequence passes max_position_embeddings.
        if seq_len <= max_positions:
            return inv_freq
        base = theta * ((factor * seq_len / max_positions) - (factor - 1)) ** (head_dim / (head_dim - 2))
        return 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64, device=device) / head_dim))
    if kind == "llama3":
        low, high = float(scaling["low_freq_factor"]), float(scaling["high_freq_factor"])
        old = float(scaling["original_max_position_embeddings"])
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > old / low, inv_freq / factor, inv_freq)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < old / high) & ~(wavelen > old / low)
        return torch.where(medium, smoothed, scaled)
    raise ValueError(f"rope_scaling type {kind!r} not supported")


def rope_cos_sin(positions, head_dim, theta, dtype, scaling=None, max_positions=0):
    """HF rotate_half convention: frequencies repeated for both halves."""
    inv_freq = rope_inv_freq(head_dim, theta, scaling, seq_len=int(positions.max()) + 1 if len(positions) else 0,
                             max_positions=max_positions, device=positions.device)
    freqs = positions.to(torch.float64)[:, None] * inv_freq[None, :]   # (T, hd/2)
    emb = torch.cat([freqs, freqs], dim=-1)                             # (T, hd)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class LlamaAttention(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.h = cfg.num_attention_heads
        self.kvh = cfg.num_key_value_heads
        self.hd = cfg.attention_head_dim
        self.q_proj = nn.Linear(cfg.hidden_size, self.h * self.hd, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(cfg.hidden_size, self.kvh * self.hd, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(cfg.hidden_size, self.kvh * self.hd, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(self.h * self.hd, cfg.hidden_size, bias=cfg.o_bias)

    def forward(self, x, cos, sin, mask, cache=None):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.kvh, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.kvh, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        rep = self.h // self.kvh     # grouped-query: head j uses kv head j // rep
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        attn = F.softmax(scores.float(), dim=-1).to(q.dtype)
        out = (attn @ v).transpose(1, 2).reshape(B, T, self.h * self.hd)
        return self.o_proj(out)


class LlamaMLP(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=cfg.mlp_bias)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=cfg.mlp_bias)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=cfg.mlp_bias)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaLayer(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.self_attn = LlamaAttention(cfg)
        self.mlp = LlamaMLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, cos, sin, mask, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaBody(nn.Module):
    """Holds the 'model.' prefix of the HF names."""

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList([LlamaLayer(cfg) for _ in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class LlamaModel(nn.Module):
    """Llama. Parameter names match LlamaForCausalLM's state dict."""

    arch = "llama"

    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        assert cfg.head_dim or cfg.hidden_size % cfg.num_attention_heads == 0
        assert cfg.num_attention_heads % cfg.num_key_value_heads == 0
        self.cfg = cfg
        self.model = LlamaBody(cfg)
        if not cfg.tie_word_embeddings:
            self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.classifier: Optional[Classifier] = None

    @property
    def num_exits(self):
        return self.cfg.num_hidden_layers

    @property
    def d_model(self):
        return self.cfg.hidden_size

    def add_classifier(self):
        self.classifier = Classifier(self.cfg.hidden_size).to(self.model.norm.weight)
        return self.classifier

    def final_norm(self, h):
        return self.model.norm(h)

    def project(self, h_normed):
        if self.cfg.tie_word_embeddings:
            return h_normed @ self.model.embed_tokens.weight.t()
        return self.lm_head(h_normed)

    def exit_logits(self, h):
        return self.project(self.final_norm(h))

    def new_cache(self):
        return [{} for _ in range(self.cfg.num_hidden_layers)]

    def decode_hidden(self, input_ids, cache=None, offset=0, attention_mask=None):
        """Residual streams after every layer: list of L tensors (B, T, d).
        attention_mask (B, T) 1/0 masks padded keys (right padding in training)."""
        x = self.model.embed_tokens(input_ids)
        B, T = input_ids.shape
        k_len = offset + T
        pos = torch.arange(offset, k_len, device=x.device)
        cos, sin = rope_cos_sin(pos, self.cfg.attention_head_dim, self.cfg.rope_theta, x.dtype,
                                self.cfg.rope_scaling, self.cfg.max_position_embeddings)
        causal = torch.ones(T, k_len, dtype=torch.bool, device=x.device).tril(diagonal=offset)
        mask = torch.zeros(T, k_len, dtype=x.dtype, device=x.device)
        mask = mask.masked_fill(~causal, torch.finfo(x.dtype).min)[None, None]
        if attention_mask is not None:
            mask = mask + (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
            mask = mask.clamp(min=torch.finfo(x.dtype).min)
        hs = []
        for i, layer in enumerate(self.model.layers):
            x = layer(x, cos, sin, mask, None if cache is None else cache[i])
            hs.append(x)
        return hs

    def forward(self, input_ids, attention_mask=None, all_logits=True):
        hs = self.decode_hidden(input_ids, attention_mask=attention_mask)
        hidden = torch.stack(hs)
        top = hs if all_logits else [hs[-1]]
        logits = torch.stack([self.exit_logits(h) for h in top])
        return {"hidden": hidden, "logits": logits}


def build_model(cfg):
    return T5Model(cfg) if isinstance(cfg, T5Config) else LlamaModel(cfg)


def config_from_dict(d: dict):
    """Config dataclass from a config.json dict (unknown keys ignored)."""
    kind = d.get("model_type")
    cls = {"t5": T5Config, "llama": LlamaConfig, "qwen2": Qwen2Config}.get(kind)
    if cls is None:
        raise ValueError(f"model_type {kind!r} not supported")
    names = {f.name for f in cls.__dataclass_fields__.values() if f.init}
    return cls(**{k: v for k, v in d.items() if k in names})


# ----------------------------------------------------------------------------
# CALM losses

def calm_layer_weights(L: int) -> torch.Tensor:
    """w_i = i / (1 + 2 + ... + L), i = 1..L (sums to 1)."""
    i = torch.arange(1, L + 1, dtype=torch.float64)
    return i / i.sum()


def calm_stage1_loss(model, hidden, labels, ignore_index=-100, sample_frac=1.0, generator=None):
    """Weighted per-layer cross-entropy under teacher forcing.

    hidden: (L, B, T, d) raw residual streams; labels: (B, T) gold next ids
    (ignore_index where there is none). With sample_frac < 1 the layers below
    the top compute their CE on a random fraction of the valid positions (an
    unbiased estimate of their mean CE, cheaper: the vocabulary projections
    dominate); the top layer always uses every position.
    Returns (loss, per_layer_ce (L,) detached)."""
    L = hidden.shape[0]
    w = calm_layer_weights(L).to(hidden.device, hidden.dtype)
    flat_labels = labels.reshape(-1)
    valid = (flat_labels != ignore_index).nonzero(as_tuple=True)[0]
    y = flat_labels[valid]
    hflat = hidden.reshape(L, -1, hidden.shape[-1])[:, valid]       # (L, N, d)
    n = y.numel()
    sub = None
    if sample_frac < 1.0 and n > 0:
        k = max(1, int(round(n * sample_frac)))
        sub = torch.randperm(n, generator=generator, device="cpu")[:k].to(hidden.device)
    ces = []
    for i in range(L):
        h, yy = hflat[i], y
        if sub is not None and i < L - 1:
            h, yy = h[sub], y[sub]
        logits = model.exit_logits(h).float()
        ces.append(F.cross_entropy(logits, yy))
    ce = torch.stack(ces)
    return (w.to(ce.dtype) * ce).sum(), ce.detach()


def calm_stage2_labels(model, hidden):
    """Labels (L-1, N) float: 1 when layer i's argmax equals the top layer's.
    hidden: (L, N, d) raw states (backbone frozen, no grad)."""
    with torch.no_grad():
        pred = torch.stack([model.exit_logits(h).argmax(-1) for h in hidden])  # (L, N)
        return (pred[:-1] == pred[-1:]).to(hidden.dtype)


def calm_stage2_loss(probs_or_logits, labels, from_logits=True):
    """Class-balanced BCE of the early-exit classifier over layers 1..L-1.

    probs_or_logits, labels: (L-1, N). Per layer i with n examples, n_pos
    positives and n_neg negatives: positive weight 1 - n_pos/n, negative weight
    1 - n_neg/n; the loss is the mean over all (layer, position) of the
    weighted per-example BCE (the authors' t5x CALM code)."""
    n = labels.shape[-1]
    n_pos = labels.sum(-1, keepdim=True)
    n_neg = n - n_pos
    w = torch.where(labels > 0.5, 1.0 - n_pos / n, 1.0 - n_neg / n)
    if from_logits:
        bce = F.binary_cross_entropy_with_logits(probs_or_logits, labels, reduction="none")
    else:
        bce = F.binary_cross_entropy(probs_or_logits, labels, reduction="none")
    return (w * bce).mean()


def classifier_logits(model, hidden):
    """Pre-sigmoid classifier scores for hidden (..., d)."""
    c = model.classifier
    return hidden @ c.weight + c.bias[0]


# ----------------------------------------------------------------------------
# Greedy generation (full model, K/V cache)

@torch.no_grad()
def greedy_generate(model, prompt_ids, max_new_tokens, eos_id=None, use_cache=True):
    """Greedy continuation of the full model for one sequence.

    T5: prompt_ids is the encoder input (eos already appended); the decoder
    starts from decoder_start_token_id. Llama: prompt_ids already begins with
    bos. Returns the generated ids only, stopping after eos (included)."""
    dev = next(model.parameters()).device
    cfg = model.cfg
    eos = cfg.eos_token_id if eos_id is None else eos_id
    eos = set(eos) if isinstance(eos, (list, tuple)) else {eos}
    out = []
    if model.arch == "t5":
        enc = model.encode(torch.tensor([prompt_ids], device=dev))
        seq = [cfg.decoder_start_token_id]
        cache = model.new_cache() if use_cache else None
        for step in range(max_new_tokens):
            if use_cache:
                hs = model.decode_hidden(torch.tensor([seq[-1:]], device=dev), enc,
                                         cache=cache, offset=len(seq) - 1)
            else:
                hs = model.decode_hidden(torch.tensor([seq], device=dev), enc)
            tok = int(model.exit_logits(hs[-1][0, -1]).argmax())
            seq.append(tok)
            out.append(tok)
            if tok in eos:
                break
    else:
        seq = list(prompt_ids)
        cache = model.new_cache() if use_cache else None
        fed = 0
        for step in range(max_new_tokens):
            if use_cache:
                hs = model.decode_hidden(torch.tensor([seq[fed:]], device=dev), cache=cache, offset=fed)
                fed = len(seq)
            else:
                hs = model.decode_hidden(torch.tensor([seq], device=dev))
            tok = int(model.exit_logits(hs[-1][0, -1]).argmax())
            seq.append(tok)
            out.append(tok)
            if tok in eos:
                break
    return out


# ----------------------------------------------------------------------------
# Initialisation for training (Hugging Face's _init_weights, factor 1)

@torch.no_grad()
def init_for_training(model, seed=0):
    """T5: HF T5PreTrainedModel._init_weights (embeddings std 1, q std
    (d*d_kv)^-0.5, k/v std d^-0.5, o std (h*d_kv)^-0.5, wi std d^-0.5, wo std
    d_ff^-0.5, lm_head std d^-0.5, relative bias std d^-0.5). Llama: normal(0,
    0.02) everywhere (HF initializer_range). Norms 1, classifier 0."""
    g = torch.Generator().manual_seed(seed)

    def normal_(p, std):
        p.copy_(torch.randn(p.shape, generator=g) * std)

    for name, p in model.named_parameters():
        if "norm" in name:
            p.fill_(1.0)
        elif name.startswith("classifier."):
            p.zero_()
        elif model.arch == "llama":
            normal_(p, 0.02)
        else:
            c = model.cfg
            d, dk, h, dff = c.d_model, c.d_kv, c.num_heads, c.d_ff
            if name == "shared.weight":
                std = 1.0
            elif name == "lm_head.weight":
                std = d ** -0.5
            elif name.endswith("relative_attention_bias.weight"):
                std = d ** -0.5
            elif name.endswith(".q.weight"):
                std = (d * dk) ** -0.5
            elif name.endswith((".k.weight", ".v.weight")):
                std = d ** -0.5
            elif name.endswith(".o.weight"):
                std = (h * dk) ** -0.5
            elif name.endswith(".wo.weight"):
                std = dff ** -0.5
            else:  # wi, wi_0, wi_1
                std = d ** -0.5
            normal_(p, std)
    return model
