"""Tests of training/evaluate.py: the BLEU and ROUGE-L helpers against values
computed by hand, and the batched decoding / teacher-forced statistics against
the plain model code.

Run: /usr/bin/python3 -m pytest -q training/tests/test_evaluate.py
"""
import json
import math
import os
import sys

import pytest
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
TRAINING = os.path.dirname(HERE)
REPO = os.path.dirname(TRAINING)
sys.path.insert(0, TRAINING)

import evaluate as E  # noqa: E402
from calm.model import T5Config, LlamaConfig, build_model, greedy_generate  # noqa: E402

torch.set_num_threads(1)
FIXTURES = os.path.join(REPO, "tests", "fixtures", "models")


def w(s):
    return s.split()


# ---------------------------------------------------------------------------- words

def test_words_split_punctuation_and_keep_case():
    # \w+ runs are words, every other non-space character is a token of its own
    assert E.words("Go, now!") == ["Go", ",", "now", "!"]
    assert E.words("don't  LORD;") == ["don", "'", "t", "LORD", ";"]
    assert E.words("") == []


# ---------------------------------------------------------------------------- BLEU

def test_bleu_identical_is_100():
    # every n-gram matches (precisions 1) and c = r (brevity penalty 1)
    b = E.corpus_bleu([w("a b c d e")], [w("a b c d e")])
    assert b["bleu"] == pytest.approx(100.0)


def test_bleu_one_wrong_last_word():
    # hyp a b c d e / ref a b c d f: matches 4/5 unigrams, 3/4 bigrams,
    # 2/3 trigrams, 1/2 four-grams; c = r = 5 so BP = 1.
    # BLEU = (4/5 * 3/4 * 2/3 * 1/2) ** (1/4) = (1/5) ** 0.25 = 0.668740...
    b = E.corpus_bleu([w("a b c d e")], [w("a b c d f")])
    assert b["precisions"] == pytest.approx([4 / 5, 3 / 4, 2 / 3, 1 / 2])
    assert b["bp"] == 1.0
    assert b["bleu"] == pytest.approx(100 * 0.2 ** 0.25)
    assert b["bleu"] == pytest.approx(66.874, abs=1e-3)


def test_bleu_no_smoothing_gives_zero_without_a_four_gram_match():
    # the cat sat on the mat / the cat is on the mat: unigrams 5/6 (the x2, cat,
    # on, mat), bigrams 3/5 (the cat, on the, the mat), trigrams 1/4 (on the
    # mat), four-grams 0/3 -> log 0: BLEU 0 (no smoothing)
    b = E.corpus_bleu([w("the cat sat on the mat")], [w("the cat is on the mat")])
    assert b["precisions"] == pytest.approx([5 / 6, 3 / 5, 1 / 4, 0.0])
    assert b["bleu"] == 0.0


def test_bleu_clips_repeated_words():
    # Papineni's example: 7 x "the" vs a reference with 2 "the": modified
    # unigram precision 2/7 (not 7/7); no bigram "the the" in the reference
    b = E.corpus_bleu([w("the the the the the the the")], [w("the cat is on the mat")])
    assert b["precisions"][0] == pytest.approx(2 / 7)
    assert b["precisions"][1] == 0.0


def test_bleu_brevity_penalty():
    # hyp a b c d is a prefix of ref a b c d e f: all precisions 1, c = 4,
    # r = 6 -> BP = exp(1 - 6/4) = exp(-0.5) = 0.606531 -> BLEU 60.6531
    b = E.corpus_bleu([w("a b c d")], [w("a b c d e f")])
    assert b["bp"] == pytest.approx(math.exp(-0.5))
    assert b["bleu"] == pytest.approx(100 * math.exp(-0.5))
    # a longer hypothesis is not penalised by BP (only by precision):
    # hyp a b c d e f vs ref a b c d: p = 4/6, 3/5, 2/4, 1/3, c > r -> BP 1
    b = E.corpus_bleu([w("a b c d e f")], [w("a b c d")])
    assert b["bp"] == 1.0
    assert b["bleu"] == pytest.approx(100 * (4 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25)


def test_bleu_pools_counts_over_the_corpus():
    # segment 1: a b c d / a b c d -> 4/4, 3/3, 2/2, 1/1
    # segment 2: a b c d / a b x d -> unigrams 3/4 (a, b, d), bigrams 1/3 (a b),
    #            trigrams 0/2, four-grams 0/1 (alone its BLEU would be 0)
    # pooled: 7/8, 4/6, 2/4, 1/2; c = r = 8 -> BLEU = (7/8 * 2/3 * 1/2 * 1/2) ** 0.25
    #       = (7/48) ** 0.25 = 0.61797... (the mean of sentence BLEUs would be 50)
    b = E.corpus_bleu([w("a b c d"), w("a b c d")], [w("a b c d"), w("a b x d")])
    assert b["precisions"] == pytest.approx([7 / 8, 4 / 6, 2 / 4, 1 / 2])
    assert b["bleu"] == pytest.approx(100 * (7 / 48) ** 0.25)
    assert b["hyp_len"] == 8 and b["ref_len"] == 8


def test_bleu_empty_hypothesis_is_zero():
    # c = 0: no n-grams at all, BP undefined -> 0
    assert E.corpus_bleu([[]], [w("a b c d")])["bleu"] == 0.0


# ---------------------------------------------------------------------------- ROUGE-L

def test_lcs_length():
    # CLRS's example: LCS(ABCBDAB, BDCABA) = 4 (e.g. BCBA)
    assert E.lcs_length(list("ABCBDAB"), list("BDCABA")) == 4
    assert E.lcs_length(list("BDCABA"), list("ABCBDAB")) == 4
    assert E.lcs_length([], list("abc")) == 0


def test_rouge_l_by_hand():
    # identical -> P = R = 1 -> F = 1
    assert E.rouge_l(w("a b c"), w("a b c")) == pytest.approx(1.0)
    # the cat sat on the mat / the cat is on the mat: LCS = the cat on the mat = 5,
    # P = R = 5/6 -> F = 5/6
    assert E.rouge_l(w("the cat sat on the mat"), w("the cat is on the mat")) == pytest.approx(5 / 6)
    # a b c / a x b y c z: LCS 3, P = 3/3 = 1, R = 3/6 = 1/2, F = 2*1*0.5/1.5 = 2/3
    assert E.rouge_l(w("a b c"), w("a x b y c z")) == pytest.approx(2 / 3)
    # order matters: c b a / a b c: LCS 1 -> P = R = 1/3 -> F = 1/3
    assert E.rouge_l(w("c b a"), w("a b c")) == pytest.approx(1 / 3)
    # nothing in common, or an empty side -> 0
    assert E.rouge_l(w("x y"), w("a b")) == 0.0
    assert E.rouge_l([], w("a b")) == 0.0


def test_mean_rouge_l_and_text_metrics_on_words():
    # mean over examples, x100: (1 + 2/3) / 2 * 100 = 83.333...
    assert E.mean_rouge_l([w("a b c"), w("a b c")], [w("a b c"), w("a x b y c z")]) == pytest.approx(250 / 3)
    # "Go, now!" -> Go , now ! (4 words); "Go now!" -> Go now ! (3): LCS 3,
    # P = 3/4, R = 1 -> F = 2 * 0.75 / 1.75 = 6/7
    m = E.text_metrics(["Go, now!"], ["Go now!"])
    assert m["rouge_l"] == pytest.approx(100 * 6 / 7)
    # case-sensitive: "go" does not match "Go" -> only "now" and "!" match
    # (LCS 2 of 3 and 3): F = 2/3
    m = E.text_metrics(["go now!"], ["Go now!"])
    assert m["rouge_l"] == pytest.approx(100 * 2 / 3)


# ---------------------------------------------------------------------------- model side

def tiny(arch, seed=0):
    torch.manual_seed(seed)
    if arch == "t5":
        cfg = T5Config(vocab_size=50, d_model=16, d_kv=4, d_ff=32, num_layers=2,
                       num_decoder_layers=3, num_heads=4, relative_attention_num_buckets=8,
                       relative_attention_max_distance=16)
    else:
        cfg = LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32,
                          num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2)
    m = build_model(cfg)
    for p in m.parameters():          # large weights: varied argmaxes, early eos
        p.data.normal_(0, 0.5)
    m.add_classifier()
    m.classifier.weight.data.normal_(0, 0.5)
    return m.eval()


def test_batched_t5_greedy_equals_greedy_generate():
    # rows of different lengths (padding), some stopping early (rows dropped
    # from the batch mid-way): a larger eos row in the head makes eos frequent
    lengths = set()
    for seed in (0, 1, 3):
        m = tiny("t5", seed)
        m.lm_head.weight.data[m.cfg.eos_token_id] *= 1.5
        g = torch.Generator().manual_seed(seed)
        srcs = [torch.randint(3, 50, (n,), generator=g).tolist() + [1] for n in (7, 3, 11, 5, 1, 8, 2, 9, 4, 6)]
        got = E.t5_greedy_batch(m, srcs, 12)
        lengths.update(len(o) for o in got)
        for s, o in zip(srcs, got):
            want = greedy_generate(m, s, 12)
            if want and want[-1] == m.cfg.eos_token_id:
                want = want[:-1]
            assert o == want
    assert 0 in lengths and 12 in lengths and len(lengths) >= 5    # the case really is varied


class FakeSP:
    """Stands in for SentencePiece: text is a list of ids written as numbers."""

    def __init__(self, bos=1, eos=1):
        self._bos, self._eos = bos, eos

    def encode(self, texts):
        return [[int(t) for t in s.split()] for s in texts]

    def eos_id(self):
        return self._eos

    def bos_id(self):
        return self._bos


def _direct_stats(m, examples):
    """Per-layer CE sums, agreement counts, oracle sum and classifier counts
    from one unbatched forward() per example. examples: (logits (L, T, V), labels, hidden (L, T, d))."""
    L = m.num_exits
    ce, agree, oracle, n = [0.0] * L, [0] * L, 0, 0
    tp = [0] * L
    for lg, lab, hid in examples:
        top = lg[-1].argmax(-1)
        prob = m.classifier(hid)
        first = None
        for i in range(L):
            ce[i] += F.cross_entropy(lg[i], lab, reduction="sum").item()
            same = lg[i].argmax(-1) == top
            agree[i] += int(same.sum())
            tp[i] += int((same & (prob[i] >= 0.5)).sum())
        for t in range(lab.numel()):
            first = next(i for i in range(L) if lg[i, t].argmax() == top[t])
            oracle += first + 1
        n += lab.numel()
    return ce, agree, oracle, tp, n


@pytest.mark.parametrize("arch", ["t5", "llama"])
def test_layer_stats_match_unbatched_forward(arch):
    m = tiny(arch)
    g = torch.Generator().manual_seed(5)
    rows = [{"input": " ".join(str(x) for x in torch.randint(3, 50, (a,), generator=g).tolist()),
             "reference": " ".join(str(x) for x in torch.randint(3, 50, (b,), generator=g).tolist())}
            for a, b in ((4, 6), (9, 2), (1, 5), (6, 6), (3, 1))]
    sp = FakeSP()
    examples = []
    for r in rows:
        a, b = sp.encode([r["input"]])[0], sp.encode([r["reference"]])[0]
        if arch == "t5":
            tgt = b + [1]
            out = m(torch.tensor([a + [1]]), torch.tensor([[0] + tgt[:-1]]))
            examples.append((out["logits"][:, 0], torch.tensor(tgt), out["hidden"][:, 0]))
        else:
            ids = [1] + a + b
            out = m(torch.tensor([ids]))
            sl = slice(len(a), len(a) + len(b))        # position t predicts ids[t + 1]
            examples.append((out["logits"][:, 0, sl], torch.tensor(b), out["hidden"][:, 0, sl]))
    ce, agree, oracle, tp, n = _direct_stats(m, examples)
    fn = E.t5_layer_stats if arch == "t5" else E.llama_layer_stats
    s = fn(m, sp, rows, batch_size=2)
    assert s["positions"] == n
    assert s["mean_ce"] == pytest.approx([c / n for c in ce], rel=1e-5)
    assert s["agreement_with_top"] == pytest.approx([a / n for a in agree])
    assert s["agreement_with_top"][-1] == 1.0
    assert s["oracle_avg_exit_layer"] == pytest.approx(oracle / n)
    assert sum(s["oracle_exit_histogram"]) == n
    for c in s["classifier"]:
        i = c["layer"] - 1
        assert c["positive_rate"] == pytest.approx(agree[i] / n)
        assert c["recall"] == pytest.approx(tp[i] / agree[i] if agree[i] else 0.0)
    assert len(s["classifier"]) == m.num_exits - 1


@pytest.mark.parametrize("name,test", [("t5-gated-untied-f32", "kjv2web"), ("llama-gqa-untied-f32", "prose")])
def test_main_end_to_end_on_fixture(tmp_path, name, test, capsys):
    md, js = tmp_path / "out.md", tmp_path / "out.json"
    args = [os.path.join(FIXTURES, name), "--test", os.path.join(REPO, "resources", "data", test, "test.jsonl"),
            "--limit", "3", "--max-new-tokens", "6", "--prompt-tokens", "4", "--quiet",
            "--markdown", str(md), "--json", str(js)]
    res = E.main(args)
    text = md.read_text()
    assert text in capsys.readouterr().out          # the same section went to stdout
    assert "| layer | top-1 agreement with top layer | perplexity |" in text
    assert "Local-oracle average exit layer" in text
    assert "Evaluation wall time" in text and "evaluate.py" in text
    data = json.loads(js.read_text())
    assert data["test"]["examples"] == 3
    assert len(data["layers"]["perplexity"]) == res["model"]["exits"]
    if test == "kjv2web":
        assert "copy baseline" in text
        assert data["generation"]["max_new_tokens"] == 6
    else:
        assert len(data["continuations"]) == 5 == len(E.PROMPTS)
        assert "Held-out perplexity" in text
