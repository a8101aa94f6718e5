"""Tests of the PyTorch twin, the exporter and the fixtures.

Run: /usr/bin/python3 -m pytest -q training/tests
"""
import json
import math
import os
import struct
import sys

import pytest
import sentencepiece as spm
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TRAINING = os.path.dirname(HERE)
REPO = os.path.dirname(TRAINING)
sys.path.insert(0, TRAINING)

from calm.model import (T5Config, LlamaConfig, Qwen2Config, T5Model, LlamaModel, build_model,  # noqa: E402
                        calm_layer_weights, calm_stage1_loss, calm_stage2_loss,
                        calm_stage2_labels, classifier_logits, greedy_generate,
                        t5_relative_position_bucket)
from calm.export import save_model_dir, load_model_dir, export_tensors  # noqa: E402
from calm.safetensors_io import save_file, load_file  # noqa: E402
import make_fixtures  # noqa: E402

torch.set_num_threads(1)   # tiny tensors: one thread is fastest, and immune to busy cores
FIXTURES = os.path.join(REPO, "tests", "fixtures", "models")


def tiny(arch, **kw):
    torch.manual_seed(0)
    if arch == "t5":
        cfg = T5Config(vocab_size=50, d_model=16, d_kv=4, d_ff=32, num_layers=2,
                       num_decoder_layers=3, num_heads=4, relative_attention_num_buckets=8,
                       relative_attention_max_distance=16, **kw)
    else:
        config = Qwen2Config if arch == "qwen2" else LlamaConfig
        cfg = config(vocab_size=50, hidden_size=16, intermediate_size=32,
                     num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, **kw)
    m = build_model(cfg)
    make_fixtures.init_weights(m, 0)
    return m.eval()


def run(m, ids, dec=None):
    if m.arch == "t5":
        return m(torch.tensor([ids]), torch.tensor([dec]))
    return m(torch.tensor([ids]))


VARIANTS = [("t5", {}), ("t5", dict(feed_forward_proj="relu", tie_word_embeddings=True)),
            ("llama", {}), ("llama", dict(tie_word_embeddings=True)),
            ("llama", dict(attention_bias=True, mlp_bias=True)), ("qwen2", dict(tie_word_embeddings=True))]


# ---------------------------------------------------------------------------- CALM maths

def test_loss_weights_L8():
    w = calm_layer_weights(8)
    # 1 + 2 + ... + 8 = 36
    assert torch.allclose(w, torch.arange(1, 9, dtype=torch.float64) / 36)
    assert abs(float(w.sum()) - 1.0) < 1e-12


def test_relative_position_buckets_match_hf_values():
    # Hugging Face defaults: 32 buckets, max distance 128.
    # Bidirectional: 16 buckets a side, exact up to 8 (max_exact = 16 // 2), keys
    # to the right (relative > 0) offset by 16; log-spaced from 8 to 128 over
    # buckets 8..15: |rel| = 8 -> 8 + int(log(1)/log(16)*8) = 8, |rel| = 32 ->
    # 8 + int(log(4)/log(16)*8) = 12, |rel| >= 128 -> clipped to 15.
    rel = torch.tensor([0, -1, 1, -7, 7, -8, 8, -32, 32, -128, 500])
    b = t5_relative_position_bucket(rel, True, 32, 128)
    assert b.tolist() == [0, 1, 17, 7, 23, 8, 24, 12, 28, 15, 31]
    # Causal (decoder): keys to the right map to 0; exact up to 16 in the past;
    # |rel| = 32 -> 16 + int(log(2)/log(8)*16) = 16 + 5 = 21; far past -> 31.
    rel = torch.tensor([3, 0, -1, -15, -16, -32, -1000])
    b = t5_relative_position_bucket(rel, False, 32, 128)
    assert b.tolist() == [0, 0, 1, 15, 16, 21, 31]


@pytest.mark.parametrize("arch,kw", VARIANTS)
def test_top_exit_equals_plain_forward(arch, kw):
    m = tiny(arch, **kw)
    ids, dec = [5, 6, 7, 8, 1], [0, 9, 10, 11]
    full = run(m, ids, dec)
    if arch == "t5":
        plain = m(torch.tensor([ids]), torch.tensor([dec]), all_logits=False)
    else:
        plain = m(torch.tensor([ids]), all_logits=False)
    assert full["logits"].shape[0] == m.num_exits
    assert torch.equal(full["logits"][-1], plain["logits"][0])
    # every exit uses the shared final norm and projection on its own layer's state
    for i in range(m.num_exits):
        assert torch.allclose(full["logits"][i], m.exit_logits(full["hidden"][i]))


def test_tied_t5_scales_before_projection():
    m = tiny("t5", tie_word_embeddings=True)
    h = torch.randn(3, 16)
    expect = m.decoder.final_layer_norm(h) * 16 ** -0.5 @ m.shared.weight.t()
    assert torch.allclose(m.exit_logits(h), expect)


@pytest.mark.parametrize("arch,kw", VARIANTS)
def test_kv_cache_matches_recomputation(arch, kw):
    m = tiny(arch, **kw)
    prompt = [5, 6, 7, 8, 1] if arch == "t5" else [1, 5, 6, 7, 8]
    a = greedy_generate(m, prompt, 10, use_cache=True)
    b = greedy_generate(m, prompt, 10, use_cache=False)
    assert a == b


@pytest.mark.parametrize("arch", ["t5", "llama"])
def test_padding_does_not_change_real_positions(arch):
    m = tiny(arch)
    a, b = [5, 6, 7, 1], [8, 9, 1]
    if arch == "t5":
        x = torch.tensor([a, b + [0]])
        mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
        dec = torch.tensor([[0, 3, 4], [0, 3, 0]])
        batched = m(x, dec, attention_mask=mask)["logits"]
        single = m(torch.tensor([b]), torch.tensor([[0, 3]]))["logits"]
        assert torch.allclose(batched[:, 1, :2], single[:, 0], atol=1e-5)
    else:
        x = torch.tensor([[1] + a, [1] + b + [0]])
        mask = torch.tensor([[1] * 5, [1] * 4 + [0]])
        batched = m(x, attention_mask=mask)["logits"]
        single = m(torch.tensor([[1] + b]))["logits"]
        assert torch.allclose(batched[:, 1, :4], single[:, 0], atol=1e-5)


def test_stage1_loss_is_weighted_mean_of_layer_ce():
    m = tiny("llama")
    x = torch.tensor([[1, 5, 6, 7, 8, 9]])
    out = m(x)
    labels = torch.tensor([[5, 6, 7, 8, 9, -100]])
    loss, ce = calm_stage1_loss(m, out["hidden"], labels)
    manual = [torch.nn.functional.cross_entropy(out["logits"][i, 0, :5], labels[0, :5])
              for i in range(3)]
    assert torch.allclose(ce, torch.stack(manual))
    assert torch.allclose(loss, (torch.tensor([1, 2, 3]) / 6 * torch.stack(manual)).sum())
    # sampling the lower layers leaves the top layer's CE exact
    g = torch.Generator().manual_seed(0)
    _, ce_s = calm_stage1_loss(m, out["hidden"], labels, sample_frac=0.4, generator=g)
    assert torch.allclose(ce_s[-1], ce[-1])


def test_stage2_loss_is_class_balanced_by_hand():
    # Two lower layers, four positions each.
    # Layer 1: labels 1,0,0,0 -> n_pos=1, n_neg=3: positive weight 1-1/4 = 0.75,
    #          negative weight 1-3/4 = 0.25 (the rare class weighs more).
    # Layer 2: labels 1,1,0,0 -> both weights 0.5.
    # With logits 0 every BCE term is ln 2, so the loss is
    #   ln2 * (0.75 + 3*0.25 + 4*0.5) / 8 = ln2 * 3.5 / 8.
    labels = torch.tensor([[1., 0., 0., 0.], [1., 1., 0., 0.]])
    loss = calm_stage2_loss(torch.zeros(2, 4), labels)
    assert abs(float(loss) - math.log(2) * 3.5 / 8) < 1e-7
    # Non-trivial scores: check against the explicit formula term by term.
    z = torch.tensor([[2.0, -1.0, 0.5, 3.0], [0.0, 1.0, -2.0, 0.25]])
    w = torch.tensor([[0.75, 0.25, 0.25, 0.25], [0.5, 0.5, 0.5, 0.5]])
    p = torch.sigmoid(z)
    bce = -(labels * torch.log(p) + (1 - labels) * torch.log(1 - p))
    assert torch.allclose(calm_stage2_loss(z, labels), (w * bce).mean())
    # probabilities input gives the same
    assert torch.allclose(calm_stage2_loss(p, labels, from_logits=False), (w * bce).mean())


def test_stage2_labels_compare_with_top_layer():
    m = tiny("llama")
    out = m(torch.tensor([[1, 5, 6, 7, 8]]))
    h = out["hidden"][:, 0]                    # (L, T, d)
    lab = calm_stage2_labels(m, h)
    pred = out["logits"][:, 0].argmax(-1)
    assert torch.equal(lab, (pred[:-1] == pred[-1]).float())


# ---------------------------------------------------------------------------- files

@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_safetensors_round_trip(tmp_path, dtype):
    g = torch.Generator().manual_seed(1)
    ts = {"a": torch.randn(3, 5, generator=g).to(dtype), "b.c": torch.randn(7, generator=g).to(dtype),
          "scalar_like": torch.randn(1, generator=g).to(dtype)}
    p = str(tmp_path / "x.safetensors")
    save_file(ts, p, metadata={"k": "v"})
    back, meta = load_file(p)
    assert meta == {"k": "v"}
    for k, v in ts.items():
        assert back[k].dtype == dtype and torch.equal(back[k], v)
    raw = open(p, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0
    header = json.loads(raw[8:8 + n])
    assert header["a"]["dtype"] == {torch.float32: "F32", torch.float16: "F16",
                                    torch.bfloat16: "BF16"}[dtype]
    assert header["a"]["shape"] == [3, 5]
    # offsets tile the data section exactly
    spans = sorted(v["data_offsets"] for k, v in header.items() if k != "__metadata__")
    assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert spans[-1][1] == len(raw) - 8 - n


@pytest.mark.parametrize("arch,kw", VARIANTS)
@pytest.mark.parametrize("dtype", ["F32", "F16", "BF16"])
def test_export_load_round_trip(tmp_path, arch, kw, dtype):
    m = tiny(arch, **kw)
    m.add_classifier()
    with torch.no_grad():
        m.classifier.weight.normal_()
        m.classifier.bias.fill_(0.3)
    make_fixtures.round_to(m, dtype)   # so the stored values are exact
    save_model_dir(m, str(tmp_path), dtype=dtype)
    cfg = json.load(open(tmp_path / "config.json"))
    assert cfg["calm"] == {"classifier": {"weight": "calm.classifier.weight",
                                          "bias": "calm.classifier.bias"}}
    names, _ = load_file(str(tmp_path / "model.safetensors"))
    assert ("lm_head.weight" in names) == (not m.cfg.tie_word_embeddings)
    assert "calm.classifier.weight" in names and names["calm.classifier.bias"].shape == (1,)
    m2 = load_model_dir(str(tmp_path))
    ids, dec = [5, 6, 7, 1], [0, 9, 10]
    a, b = run(m, ids, dec), run(m2, ids, dec)
    assert torch.equal(a["logits"], b["logits"])
    assert torch.equal(m.classifier(a["hidden"]), m2.classifier(b["hidden"]))


def test_hf_tensor_names():
    t5 = export_tensors(tiny("t5"))
    for n in ["shared.weight", "lm_head.weight", "encoder.final_layer_norm.weight",
              "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
              "encoder.block.1.layer.0.SelfAttention.q.weight",
              "encoder.block.1.layer.1.DenseReluDense.wi_0.weight",
              "encoder.block.1.layer.1.layer_norm.weight",
              "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
              "decoder.block.2.layer.1.EncDecAttention.o.weight",
              "decoder.block.2.layer.2.DenseReluDense.wo.weight",
              "decoder.block.2.layer.2.layer_norm.weight", "decoder.final_layer_norm.weight"]:
        assert n in t5, n
    assert not any("relative_attention_bias" in n and ".block.0." not in n for n in t5)
    assert not any("embed_tokens" in n for n in t5)
    ll = export_tensors(tiny("llama", tie_word_embeddings=True))
    for n in ["model.embed_tokens.weight", "model.norm.weight",
              "model.layers.2.self_attn.k_proj.weight", "model.layers.2.mlp.gate_proj.weight",
              "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight"]:
        assert n in ll, n
    assert "lm_head.weight" not in ll
    assert ll["model.layers.0.self_attn.k_proj.weight"].shape == (8, 16)   # 2 kv heads of 4


def test_bias_tensor_names_and_shapes():
    """Hugging Face's names: Llama's attention_bias gives q/k/v/o biases and
    mlp_bias gate/up/down ones; Qwen2 has q/k/v biases only."""
    ll = export_tensors(tiny("llama", attention_bias=True, mlp_bias=True))
    for proj, n in [("self_attn.q_proj", 16), ("self_attn.k_proj", 8), ("self_attn.v_proj", 8),
                    ("self_attn.o_proj", 16), ("mlp.gate_proj", 32), ("mlp.up_proj", 32), ("mlp.down_proj", 16)]:
        assert ll[f"model.layers.2.{proj}.bias"].shape == (n,), proj
    qw = export_tensors(tiny("qwen2"))
    assert qw["model.layers.1.self_attn.k_proj.bias"].shape == (8,)
    assert {n.split(".")[-2] for n in qw if n.endswith(".bias")} == {"q_proj", "k_proj", "v_proj"}
    assert not any(n.endswith(".bias") for n in export_tensors(tiny("llama")))


def test_qwen2_is_llama_plus_qkv_biases():
    """With its biases zeroed, Qwen2 computes what Llama computes with the same
    weights; with them, every exit moves (so the biases are used)."""
    qw = tiny("qwen2", rope_theta=10000.0)
    ll = build_model(LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=3,
                                 num_attention_heads=4, num_key_value_heads=2)).eval()
    ids = torch.tensor([[1, 5, 6, 7, 8, 9]])
    with_bias = qw(ids)["logits"]
    with torch.no_grad():
        for n, p in qw.named_parameters():
            if n.endswith(".bias"):
                p.zero_()
    ll.load_state_dict({n: p for n, p in qw.state_dict().items() if not n.endswith(".bias")})
    assert torch.equal(qw(ids)["logits"], ll(ids)["logits"])
    assert all((with_bias[i] - ll(ids)["logits"][i]).abs().max() > 0.1 for i in range(3))


def test_qwen2_config_round_trip(tmp_path):
    m = tiny("qwen2")
    save_model_dir(m, str(tmp_path), dtype="F32")
    cfg = json.load(open(tmp_path / "config.json"))
    assert cfg["model_type"] == "qwen2" and cfg["architectures"] == ["Qwen2ForCausalLM"]
    assert "attention_bias" not in cfg and cfg["use_sliding_window"] is False
    assert cfg["rope_theta"] == 1e6
    assert isinstance(load_model_dir(str(tmp_path)).cfg, Qwen2Config)


# ---------------------------------------------------------------------------- training

@pytest.mark.parametrize("arch", ["t5", "llama"])
def test_tiny_calm_training_lowers_the_loss(arch):
    m = tiny(arch)
    with torch.no_grad():   # a gentler init than the fixtures' for training
        for n, p in m.named_parameters():
            if p.dim() == 2:
                p.mul_(0.5)
    m.train()
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for step in range(40):
        src = torch.randint(3, 20, (16, 6), generator=g)
        if arch == "t5":    # copy task: target = source
            dec = torch.cat([torch.zeros(16, 1, dtype=torch.long), src[:, :-1]], 1)
            out = m(src, dec)
            labels = src
        else:               # bos, sequence, sequence again: the second half is a copy
            x = torch.cat([torch.ones(16, 1, dtype=torch.long), src, src], 1)
            out = m(x)
            labels = x[:, 1:].clone()
            labels[:, :6] = -100           # only the copied half is predictable
            labels = torch.cat([labels, torch.full((16, 1), -100)], 1)
        loss, ce = calm_stage1_loss(m, out["hidden"], labels)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        losses.append(float(loss))
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first - 0.3, (first, last)


# ---------------------------------------------------------------------------- fixtures

def fixture_dirs():
    if not os.path.isdir(FIXTURES):
        return []
    return sorted(d for d in os.listdir(FIXTURES) if os.path.isfile(os.path.join(FIXTURES, d, "expected.json")))


def test_all_fixtures_present():
    assert set(fixture_dirs()) == set(make_fixtures.FIXTURES)


@pytest.mark.parametrize("name", fixture_dirs())
def test_fixture_loads_and_matches_its_expected_values(name):
    d = os.path.join(FIXTURES, name)
    exp = json.load(open(os.path.join(d, "expected.json")))
    ref, _ = load_file(os.path.join(d, "expected.safetensors"))
    m = load_model_dir(d, dtype=torch.float64)
    if m.arch == "t5":
        out = m(torch.tensor([exp["prompt_ids"]]), torch.tensor([exp["teacher_ids"]]))
        assert torch.allclose(out["encoder_output"][0].float(), ref["encoder_output"], atol=1e-5)
    else:
        out = m(torch.tensor([exp["teacher_ids"]]))
    L, T = m.num_exits, len(exp["teacher_ids"])
    assert ref["layer_logits"].shape == (L, T, m.cfg.vocab_size)
    assert torch.allclose(out["logits"][:, 0].float(), ref["layer_logits"], atol=1e-5)
    assert torch.allclose(out["hidden"][:, 0].float(), ref["layer_hidden"], atol=1e-5)
    if m.classifier is not None:
        assert torch.allclose(m.classifier(out["hidden"][:, 0]).float(), ref["classifier_probs"], atol=1e-6)
    assert greedy_generate(m, exp["prompt_ids"], exp["max_new_tokens"]) == exp["greedy_ids"]
    assert exp["min_margin"] > make_fixtures.MIN_MARGIN
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(d, "tokenizer.model"))
    # The tokenizer fills the vocabulary, or (llama3-style) the embedding is padded past it.
    assert sp.get_piece_size() == min(m.cfg.vocab_size, make_fixtures.VOCAB)


def tokenizer_table(path):
    sp = spm.SentencePieceProcessor(model_file=str(path))
    return [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]


def test_fixtures_regenerate_identically(tmp_path):
    if not fixture_dirs():
        pytest.skip("no fixtures on disk")
    toks = make_fixtures.train_tokenizers(str(tmp_path))
    for fam in ("t5-relu-tied", "llama-gqa-untied"):
        name = sorted(make_fixtures.fixture_names(fam))[0]
        make_fixtures.make_family(fam, str(tmp_path), toks, only={name}, verbose=False)
        new_d, old_d = tmp_path / name, os.path.join(FIXTURES, name)
        assert json.load(open(new_d / "expected.json")) == json.load(open(os.path.join(old_d, "expected.json")))
        new, _ = load_file(str(new_d / "expected.safetensors"))
        old, _ = load_file(os.path.join(old_d, "expected.safetensors"))
        assert new.keys() == old.keys()
        for k in new:
            assert torch.allclose(new[k], old[k], atol=1e-6, rtol=0), k
        # Same vocabulary and scores. (Not the same bytes: the model file
        # records the trainer's input path, which differs between checkouts.)
        assert tokenizer_table(new_d / "tokenizer.model") == tokenizer_table(os.path.join(old_d, "tokenizer.model"))


def test_rope_llama3_bands_worked_by_hand():
    """head_dim 16, theta 1e4, factor 8, low 1, high 4, original 32: wavelength
    2*pi (< 32/4) kept; 2*pi/10**-0.5 = 19.87 (between 8 and 32) blended with
    smooth = (32/19.87 - 1)/3; longer wavelengths divided by 8."""
    from calm.model import rope_inv_freq
    s = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
         "original_max_position_embeddings": 32}
    f = rope_inv_freq(16, 10000.0, s)
    base1 = 10 ** -0.5
    smooth = (32 / (2 * math.pi / base1) - 1) / 3
    assert abs(float(f[0]) - 1.0) < 1e-12
    assert abs(float(f[1]) - ((1 - smooth) * base1 / 8 + smooth * base1)) < 1e-12
    assert abs(float(f[2]) - 0.1 / 8) < 1e-12
    assert torch.equal(rope_inv_freq(16, 10000.0, {"type": "linear", "factor": 4.0}),
                       rope_inv_freq(16, 10000.0) / 4)
