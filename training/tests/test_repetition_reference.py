"""Tests of the numpy twin of transformers' repetition processors
(tests/fixtures/decoding/make_repetition_reference.py) on cases worked by
hand, and that the fixture the C++ test reads is what the twin makes now.

Run: /usr/bin/python3 -m pytest -q training/tests/test_repetition_reference.py
"""
import importlib.util
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(REPO, "tests", "fixtures", "decoding", "make_repetition_reference.py")

spec = importlib.util.spec_from_file_location("make_repetition_reference", SCRIPT)
R = importlib.util.module_from_spec(spec)
spec.loader.exec_module(R)


def test_penalty_divides_positive_and_multiplies_negative_logits_once():
    scores = np.array([2.0, -1.0, 0.5, 3.0], dtype=np.float32)
    # ids 0 and 1 present (0 twice: still penalised once); 2 and 3 untouched.
    out = R.repetition_penalty([0, 1, 0], scores, 2.0)
    assert out.tolist() == [1.0, -2.0, 0.5, 3.0]


def test_ngram_bans_what_followed_the_last_tokens():
    seq = [1, 2, 3, 1, 2]
    assert R.banned_ngram_tokens(seq, 3) == [3]        # (1, 2) was followed by 3
    assert R.banned_ngram_tokens(seq, 2) == [3]        # (2,) was followed by 3
    assert sorted(R.banned_ngram_tokens(seq, 1)) == [1, 1, 2, 2, 3]  # every token already there
    assert R.banned_ngram_tokens(seq, 4) == []         # (3, 1, 2) never seen before
    assert R.banned_ngram_tokens([5], 3) == []         # too short to complete a 3-gram
    out = R.no_repeat_ngram(seq, np.zeros(5, dtype=np.float32), 2)
    assert np.isneginf(out[3]) and np.isfinite(np.delete(out, 3)).all()


def test_fixture_is_up_to_date():
    with open(os.path.join(os.path.dirname(SCRIPT), "repetition_reference.json")) as f:
        assert f.read() == R.dumps(R.reference())
