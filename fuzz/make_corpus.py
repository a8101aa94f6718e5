#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/: small valid inputs and
one of each kind of broken input, so the fuzzers start from the interesting
places. Deterministic; rerun after changing it and commit the result:

    python3 fuzz/make_corpus.py
"""
import json
import shutil
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def safetensors(header, data=b"", length=None):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text) if length is None else length) + text + data


def tensor(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def write(target, name, content):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(content if isinstance(content, bytes) else content.encode())


def safetensors_seeds():
    f32 = struct.pack("<6f", 1.0, -2.5, 3.25, 0.0, 1e-30, -1e30)
    halves = struct.pack("<4H", 0x3C00, 0xC000, 0x0001, 0x7BFF)  # 1, -2, smallest subnormal, max
    write("safetensors", "valid-f32", safetensors(
        {"__metadata__": {"format": "pt"}, "m": tensor("F32", [2, 3], 0, 24), "v": tensor("F32", [0, 3], 24, 24)}, f32))
    write("safetensors", "valid-f16", safetensors({"h": tensor("F16", [4], 0, 8)}, halves))
    write("safetensors", "valid-bf16", safetensors({"b": tensor("BF16", [2, 2], 0, 8)}, halves))
    write("safetensors", "valid-scalar", safetensors({"s": tensor("F32", [], 0, 4)}, struct.pack("<f", 7.0)))
    write("safetensors", "empty-header", safetensors({}))
    write("safetensors", "nan", safetensors({"n": tensor("F32", [1], 0, 4)}, struct.pack("<I", 0x7FC00000)))
    write("safetensors", "inf-f16", safetensors({"i": tensor("F16", [1], 0, 2)}, struct.pack("<H", 0x7C00)))
    write("safetensors", "bad-dtype", safetensors({"w": tensor("I64", [1], 0, 8)}, bytes(8)))
    write("safetensors", "negative-dim", safetensors({"w": tensor("F32", [-1, 4], 0, 16)}, bytes(16)))
    write("safetensors", "overflow-shape", safetensors({"w": tensor("F32", [4294967296, 4294967296], 0, 16)}, bytes(16)))
    write("safetensors", "offsets-mismatch", safetensors({"w": tensor("F32", [2, 2], 0, 12)}, bytes(16)))
    write("safetensors", "offsets-past-end", safetensors({"w": tensor("F32", [4], 8, 24)}, bytes(16)))
    write("safetensors", "offsets-reversed", safetensors({"w": tensor("F32", [0], 8, 4)}, bytes(16)))
    write("safetensors", "header-too-long", safetensors({"w": tensor("F32", [1], 0, 4)}, bytes(4), length=1 << 60))
    write("safetensors", "header-past-end", safetensors({"w": tensor("F32", [1], 0, 4)}, bytes(4), length=4096))
    write("safetensors", "overlapping", safetensors(
        {"a": tensor("F32", [4], 0, 16), "b": tensor("F32", [4], 8, 24)}, bytes(24)))
    # json.dumps cannot repeat a key: the header is written as text.
    dup = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
    write("safetensors", "duplicate-name", struct.pack("<Q", len(dup)) + dup + bytes(8))
    write("safetensors", "short", b"\x10\x00\x00")
    write("safetensors", "not-json", struct.pack("<Q", 8) + b"{nonsens")
    write("safetensors", "not-object", safetensors([1, 2, 3]))
    # The first tensors of a real fixture's header, with its data cut to fit.
    fixture = ROOT / "tests/fixtures/models/t5-relu-tied/model.safetensors"
    if fixture.exists():
        raw = fixture.read_bytes()
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + n])
        small = {k: v for k, v in header.items() if k != "__metadata__" and v["data_offsets"][1] <= 2048}
        write("safetensors", "fixture-slice", safetensors(small, raw[8 + n:8 + n + 2048]))


def config_seeds():
    for cfg in sorted((ROOT / "tests/fixtures/models").glob("*/config.json")):
        write("config", cfg.parent.name + ".json", cfg.read_bytes())
    kjv = ROOT / "resources/models/kjv2web/config.json"
    if kjv.exists():
        write("config", "kjv2web.json", kjv.read_bytes())
    write("config", "missing-type.json", '{"vocab_size": 32}')
    write("config", "unknown-type.json", '{"model_type": "gpt2"}')
    write("config", "t5-minimal.json", json.dumps({"model_type": "t5", "vocab_size": 64, "d_model": 8, "d_kv": 4,
                                                   "d_ff": 16, "num_layers": 1, "num_heads": 2}))
    write("config", "llama-kv-mismatch.json", json.dumps({
        "model_type": "llama", "vocab_size": 64, "hidden_size": 8, "intermediate_size": 16,
        "num_hidden_layers": 1, "num_attention_heads": 3, "num_key_value_heads": 2}))
    write("config", "llama-eos-list.json", json.dumps({
        "model_type": "llama", "vocab_size": 64, "hidden_size": 8, "intermediate_size": 16,
        "num_hidden_layers": 2, "num_attention_heads": 2, "eos_token_id": [2, 3], "pad_token_id": None,
        "rms_norm_eps": 1e-5, "calm": {"classifier": {"weight": "c.w", "bias": "c.b"}}}))
    write("config", "huge-int.json", '{"model_type": "t5", "vocab_size": 18446744073709551615}')
    # 4 heads x d_kv 1073741856 wraps a 32-bit int to 128; vocab x d_model past 2^31.
    write("config", "product-wraps-int.json", json.dumps({"model_type": "t5", "vocab_size": 64, "d_model": 8,
                                                          "d_kv": 1073741856, "d_ff": 16, "num_layers": 1,
                                                          "num_heads": 4}))
    write("config", "matrix-too-large.json", json.dumps({"model_type": "llama", "vocab_size": 4194304,
                                                         "hidden_size": 1024, "intermediate_size": 16,
                                                         "num_hidden_layers": 1, "num_attention_heads": 2}))
    write("config", "not-object.json", "[1, 2, 3]")
    write("config", "truncated.json", '{"model_type": "t5", "vocab_si')


def jsonl_seeds():
    # The first byte selects the options (see fuzz_jsonl.cpp): 0 = stop, default limit.
    lines = []
    cal = ROOT / "resources/data/kjv2web/calibration.jsonl"
    if cal.exists():
        lines = cal.read_text().splitlines()[:3]
    body = "\n".join(lines) + "\n"
    write("jsonl", "bundled-stop", b"\x00" + body.encode())
    write("jsonl", "bundled-skip", b"\x01" + body.encode())
    mixed = ('\ufeff{"input": "a", "reference": "b", "id": 1}\r\n\n   \n{"input": "c"}\n'
             '{"input": 3}\n[1]\n{"reference": "x"}\n{"input": "d", "reference": null}\nnot json\n{"input": "e"}')
    write("jsonl", "mixed-skip", b"\x01" + mixed.encode())
    write("jsonl", "mixed-stop", b"\x00" + mixed.encode())
    write("jsonl", "long-line-small-limit", b"\x0b" + b'{"input": "' + b"x" * 40 + b'"}\n{"input": "y"}\n')
    write("jsonl", "empty", b"\x00")
    write("jsonl", "binary", b"\x01\x00\xff\xfe\n\x00\n{\"input\":\"\\u0000\"}\n")


def thresholds_seeds():
    valid = {
        "format": "calm-thresholds", "version": 1,
        "model": {"name": "kjv2web", "dir": "/usr/share/calm-studio/models/kjv2web", "hash": "0123456789abcdef"},
        "measure": "softmax", "tau": 4.0, "lambda": 0.35, "delta": 0.1, "epsilon": 0.05,
        "consistency": "textual", "metric": "rougeL", "pvalue_method": "hb", "max_new_tokens": 64,
        "first_exit_layer": 1, "check_interval": 1, "kv_mode": "propagate", "grid_step": 0.05,
        "calibration": {"path": "/data/cal.jsonl", "hash": "fedcba9876543210", "examples": 800},
        "created": "2024-05-01T12:00:00Z",
        "expected": {"mean_loss": 0.07, "average_layers": 6.5, "measured_speedup": 1.2, "flops_speedup": 1.3},
    }
    write("thresholds", "valid.json", json.dumps(valid, indent=2) + "\n")
    other = dict(valid, measure="state", consistency="risk", metric="bleu", pvalue_method="bentkus",
                 kv_mode="exact", **{"lambda": 1.0})
    write("thresholds", "valid-risk.json", json.dumps(other))
    gated = dict(valid, kv_mode="catch-up", gate="state", gate_threshold=0.85)
    write("thresholds", "valid-gate.json", json.dumps(gated))
    write("thresholds", "bad-gate.json", json.dumps(dict(valid, gate="sometimes", gate_threshold=2)))
    write("thresholds", "bad-version.json", json.dumps(dict(valid, version=2)))
    write("thresholds", "bad-hash.json", json.dumps(dict(valid, model=dict(valid["model"], hash="XYZ"))))
    write("thresholds", "lambda-out-of-range.json", json.dumps(dict(valid, **{"lambda": 1.5})))
    write("thresholds", "missing-expected.json", json.dumps({k: v for k, v in valid.items() if k != "expected"}))
    write("thresholds", "bad-date.json", json.dumps(dict(valid, created="yesterday")))
    write("thresholds", "not-json.json", "{\"format\": ")
    # Conformal risk control: "method" crc, no epsilon, the monotonicity check.
    crc = {k: v for k, v in valid.items() if k not in ("epsilon", "pvalue_method")}
    crc.update(method="crc", monotonicity={"holds": False, "examples_broken": 3, "pairs_broken": 0.01})
    write("thresholds", "valid-crc.json", json.dumps(crc))
    write("thresholds", "crc-with-epsilon.json", json.dumps(dict(crc, epsilon=0.05)))
    write("thresholds", "crc-holds-disagrees.json",
          json.dumps(dict(crc, monotonicity={"holds": True, "examples_broken": 3, "pairs_broken": 0.01})))
    write("thresholds", "method-wsr.json", json.dumps(dict(valid, method="wsr", pvalue_method="wsr")))
    write("thresholds", "method-disagrees.json", json.dumps(dict(valid, method="wsr")))


def checkpoint_index_seeds():
    # fuzz_checkpoint_index's model directory holds model-00001-of-00002.safetensors
    # (encoder.w, shared.b), model-00002-of-00002.safetensors (decoder.w) and notes.txt.
    one, two = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
    weight_map = {"encoder.w": one, "shared.b": one, "decoder.w": two}
    valid = {"metadata": {"total_size": 32}, "weight_map": weight_map}
    write("checkpoint_index", "valid.json", json.dumps(valid, indent=2) + "\n")
    write("checkpoint_index", "valid-one-shard.json", json.dumps({"weight_map": {"encoder.w": one}}))
    write("checkpoint_index", "empty-map.json", json.dumps({"weight_map": {}}))
    write("checkpoint_index", "no-map.json", json.dumps({"metadata": {"total_size": 0}}))
    write("checkpoint_index", "map-not-object.json", json.dumps({"weight_map": [one, two]}))
    write("checkpoint_index", "file-not-string.json", json.dumps({"weight_map": {"encoder.w": 1}}))
    write("checkpoint_index", "not-object.json", "[1, 2, 3]")
    write("checkpoint_index", "not-json.json", '{"weight_map": {"encoder.w": ')
    write("checkpoint_index", "deep.json", "[" * 10000 + "]" * 10000)
    for name, target in [("missing-shard", "model-00003-of-00003.safetensors"), ("parent", "../model.safetensors"),
                         ("absolute", "/etc/passwd"), ("dot", "."), ("dot-dot", ".."), ("backslash", "..\\x"),
                         ("empty-name", ""), ("not-safetensors", "notes.txt"), ("the-index", "model.safetensors.index.json")]:
        write("checkpoint_index", f"{name}.json", json.dumps({"weight_map": dict(weight_map, **{"decoder.w": target})}))
    # A tensor the index places in the wrong shard, and one no shard holds.
    write("checkpoint_index", "misplaced.json", json.dumps({"weight_map": dict(weight_map, **{"decoder.w": one})}))
    write("checkpoint_index", "unknown-tensor.json", json.dumps({"weight_map": dict(weight_map, extra=two)}))
    # json.dumps cannot repeat a key: the last one wins in the reader.
    write("checkpoint_index", "duplicate-key.json",
          '{"weight_map": {"encoder.w": "%s", "encoder.w": "%s", "decoder.w": "%s"}}' % (two, one, two))


def tokenizer_model_seeds():
    # Two fixtures' SentencePiece models (about 1.6 KB each) and broken forms of one.
    for name in ("llama-tied", "t5-relu-tied"):
        model = ROOT / "tests/fixtures/models" / name / "tokenizer.model"
        if model.exists():
            write("tokenizer_model", f"{name}.model", model.read_bytes())
    model = ROOT / "tests/fixtures/models/llama-tied/tokenizer.model"
    if model.exists():
        raw = model.read_bytes()
        write("tokenizer_model", "truncated.model", raw[: len(raw) // 2])
        write("tokenizer_model", "first-piece-only.model", raw[:40])
        flipped = bytearray(raw)
        for i in range(7, len(flipped), 97):
            flipped[i] ^= 0x5A
        write("tokenizer_model", "flipped-bytes.model", bytes(flipped))
        # A length prefix claiming far more than the file holds.
        write("tokenizer_model", "huge-length.model", b"\x0a\xff\xff\xff\xff\x0f" + raw[6:200])
    write("tokenizer_model", "empty.model", b"")
    write("tokenizer_model", "text.model", "this is not a protobuf\n")
    write("tokenizer_model", "json.model", '{"model": {"type": "BPE"}}')


def tokenizer_json_seeds():
    # The smallest fixture layouts, cut down to a handful of tokens each.
    added = [{"id": 0, "content": "<s>", "special": True, "lstrip": False, "rstrip": False,
              "single_word": False, "normalized": False}]
    vocab = {"<s>": 1, "a": 2, "b": 3, "ab": 4, "\u0120": 5, "\u0120a": 6, "<0x41>": 7, "\u2581": 8, "\u2581a": 9}

    def tok(pre=None, norm=None, dec=None, **model):
        m = {"type": "BPE", "vocab": vocab, "merges": [["a", "b"], ["\u0120", "a"], ["\u2581", "a"]]}
        m.update(model)
        return json.dumps({"version": "1.0", "added_tokens": added, "normalizer": norm, "pre_tokenizer": pre,
                           "post_processor": None, "decoder": dec, "model": m})
    split = {"type": "Split", "pattern": {"Regex": "\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"},
             "behavior": "Isolated", "invert": False}
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}
    write("tokenizer_json", "byte-level.json", tok({"type": "Sequence", "pretokenizers": [split, byte_level]},
                                                   {"type": "NFC"}, {"type": "ByteLevel"}, ignore_merges=True))
    write("tokenizer_json", "gpt2.json", tok({"type": "ByteLevel", "add_prefix_space": True, "use_regex": True},
                                             dec={"type": "ByteLevel"}))
    write("tokenizer_json", "metaspace.json", tok(
        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True},
        dec={"type": "Sequence", "decoders": [{"type": "Metaspace", "replacement": "\u2581"}, {"type": "ByteFallback"},
                                              {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        byte_fallback=True, fuse_unk=True, unk_token="<s>"))
    write("tokenizer_json", "legacy.json", tok(None, {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, merges=["a b", "\u2581 a"]))
    write("tokenizer_json", "unigram.json", json.dumps({"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}))
    write("tokenizer_json", "bad-merge.json", tok(merges=[["a", "zz"]]))
    write("tokenizer_json", "bad-regex.json", tok({"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated"}))
    write("tokenizer_json", "not-json.json", "{\"model\": ")
def cache_seeds():
    # The first byte selects the mode (see fuzz_cache.cpp): even = the target
    # signs each line after a correct header, odd = the bytes as they are.
    line = json.dumps({"i": 0, "full": [5, 6], "full_s": 0.1, "full_f": 100.0, "early": [[5, 6], [5, 6], [5]],
                       "layers": [3.0, 2.0, 1.0], "seconds": [0.1, 0.05, 0.02], "flops": [100.0, 60.0, 30.0]},
                      separators=(",", ":"))
    bad = line.replace('"i":0', '"i":7')
    write("cache", "signed-valid", b"\x00" + (line + "\n" + line.replace('"i":0', '"i":2') + "\n").encode())
    write("cache", "signed-bad-middle", b"\x00" + (line + "\n" + bad + "\nnot json\n" + line + "\n").encode())
    write("cache", "signed-torn", b"\x00" + (line + "\n" + line[:40]).encode())
    write("cache", "raw-old-format", b"\x01" + b'{"calm_calibration_cache": 1}\n' + line.encode() + b"\n")
    write("cache", "raw-empty", b"\x01")


def losses_seeds():
    # The first byte picks the guarantee (fuzz_losses.cpp): 0 = textual rougeL on words, delta 0.05.
    header = {"calm_losses": 1, "kind": "losses", "lambdas": [1.0, 0.5, 0.0],
              "loss": {"consistency": "textual", "metric": "rougeL", "metric_unit": "words"},
              "model": {"name": "kjv2web", "hash": "6e2963ee88b1035f", "num_layers": 8},
              "settings": {"check_interval": 1, "first_exit_layer": 1, "kv_mode": "propagate",
                           "max_new_tokens": 4, "measure": "softmax", "tau": 4.0}}
    line = {"id": 0, "losses": [0.0, 0.0, 0.71], "layers": [8.0, 1.75, 1.75], "seconds": [0.007, 0.003, 0.003],
            "flops": [20619264.0, 12420096.0, 12420608.0]}
    def text(h, *lines):
        return "\n".join(json.dumps(x, separators=(",", ":")) for x in (h,) + lines) + "\n"
    write("losses", "valid", b"\x00" + text(header, line, dict(line, id=1, losses=[0.0, 0.25, 0.5])).encode())
    write("losses", "valid-risk-bleu", b"\x03" + text(header, line).encode())
    outputs = dict(header, kind="outputs")
    del outputs["loss"]
    out_line = {"full": "and god said", "early": ["and god said", "and god", "god"], "reference": "God said"}
    write("losses", "outputs-risk", b"\x01" + text(outputs, out_line, dict(out_line, reference="x")).encode())
    write("losses", "outputs-pieces", b"\x04" + text(outputs, out_line).encode())
    write("losses", "outputs-no-reference", b"\x01" + text(outputs, {"full": "a", "early": ["a", "b", "c"]}).encode())
    write("losses", "loss-above-one", b"\x00" + text(header, dict(line, losses=[0.0, 1.5, 0.2])).encode())
    write("losses", "loss-nan", b"\x00" + text(header, line).replace("0.71", "NaN").encode())
    write("losses", "too-few-values", b"\x00" + text(header, dict(line, losses=[0.0, 0.1])).encode())
    write("losses", "grid-ascending", b"\x00" + text(dict(header, lambdas=[0.0, 0.5, 1.0]), line).encode())
    write("losses", "grid-not-from-one", b"\x00" + text(dict(header, lambdas=[0.9, 0.5, 0.0]), line).encode())
    write("losses", "column-on-some-lines", b"\x00" + text(header, line, {"losses": [0.0, 0.1, 0.2]}).encode())
    write("losses", "header-only", b"\x00" + text(header).encode())
    write("losses", "unknown-kind", b"\x00" + text(dict(header, kind="logits"), line).encode())
    write("losses", "not-json", b"\x00" + json.dumps(header).encode() + b"\n{losses: [0]}\n")
    write("losses", "empty", b"\x00")


def serve_request_seeds():
    # The first byte picks the settings (fuzz_serve_request.cpp): bit 0 allows calm.lambda, the rest
    # is max_new_tokens - 1 (0x7e: 64 tokens, lambda not allowed).
    def req(first, body):
        return bytes([first]) + (body if isinstance(body, bytes) else json.dumps(body).encode())
    write("serve_request", "plain", req(0x7E, {"prompt": "And God said"}))
    write("serve_request", "everything", req(0x7F, {
        "model": "kjv2web", "prompt": "In the beginning", "max_tokens": 8, "temperature": 0.7, "top_k": 20,
        "seed": 3, "repetition_penalty": 1.2, "no_repeat_ngram_size": 3, "stream": True, "stop": ["\n", "."],
        "n": 1, "calm": {"mode": "calm", "lambda": 0.5}}))
    write("serve_request", "verify-mode", req(0x7E, {"prompt": "x", "calm": {"mode": "verify"}}))
    write("serve_request", "verify-sampled", req(0x7E, {"prompt": "x", "temperature": 1, "calm": {"mode": "verify"}}))
    write("serve_request", "full-mode", req(0x7E, {"prompt": "x", "calm": {"mode": "full"}}))
    write("serve_request", "lambda-not-allowed", req(0x7E, {"prompt": "x", "calm": {"lambda": 0.2}}))
    write("serve_request", "lambda-out-of-range", req(0x7F, {"prompt": "x", "calm": {"lambda": 2}}))
    write("serve_request", "max-tokens-too-many", req(0x02, {"prompt": "x", "max_tokens": 5}))
    write("serve_request", "other-model", req(0x7E, {"prompt": "x", "model": "gpt-4"}))
    write("serve_request", "unknown-key", req(0x7E, {"prompt": "x", "top_p": 0.9}))
    write("serve_request", "empty-prompt", req(0x7E, {"prompt": ""}))
    write("serve_request", "prompt-list", req(0x7E, {"prompt": ["a", "b"]}))
    write("serve_request", "stop-too-many", req(0x7E, {"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}))
    write("serve_request", "stop-empty-string", req(0x7E, {"prompt": "x", "stop": [""]}))
    write("serve_request", "bad-utf8", req(0x7E, b'{"prompt": "\xff\xfe"}'))
    write("serve_request", "nested-deep", req(0x7E, b'{"prompt": "x", "calm": ' + b"[" * 200 + b"]" * 200 + b"}"))
    write("serve_request", "not-object", req(0x7E, b"[1, 2, 3]"))
    write("serve_request", "truncated", req(0x7E, b'{"prompt": "And Go'))
    write("serve_request", "empty", b"")


if __name__ == "__main__":
    shutil.rmtree(CORPUS, ignore_errors=True)
    safetensors_seeds()
    config_seeds()
    jsonl_seeds()
    thresholds_seeds()
    tokenizer_json_seeds()
    cache_seeds()
    checkpoint_index_seeds()
    tokenizer_model_seeds()
    losses_seeds()
    serve_request_seeds()
    for d in sorted(CORPUS.iterdir()):
        print(f"{d.relative_to(ROOT)}: {len(list(d.iterdir()))} seeds")
