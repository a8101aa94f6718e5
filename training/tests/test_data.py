"""Checks on the held-out evaluation sets shipped in resources/data/.

They are produced by training/data/build_corpora.sh; these tests read only
the committed files (training/data/work/ need not exist).
"""

import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "resources" / "data"
TASKS = ("kjv2web", "prose")
SPLITS = ("calibration", "test")
MIN_LINES = 1000
PROSE_SOURCES = {"sotu", "brown", "moby", "web", "jargon", "austen"}


def load(task, split):
    path = DATA / task / (split + ".jsonl")
    assert path.is_file(), "missing %s" % path
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            assert line.endswith("\n"), "%s:%d: no final newline" % (path, n)
            try:
                rows.append(json.loads(line))
            except ValueError as e:
                pytest.fail("%s:%d: invalid JSON (%s)" % (path, n, e))
    return rows


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("split", SPLITS)
def test_lines_are_valid_examples(task, split):
    rows = load(task, split)
    assert len(rows) >= MIN_LINES
    for n, row in enumerate(rows, 1):
        assert isinstance(row, dict), "line %d is not an object" % n
        for field in ("input", "reference"):
            value = row.get(field)
            assert isinstance(value, str) and value.strip(), \
                "%s/%s line %d: empty %s" % (task, split, n, field)
        if task == "kjv2web":
            assert isinstance(row.get("id"), str) and ":" in row["id"]
        else:
            assert row.get("source") in PROSE_SOURCES


@pytest.mark.parametrize("task", TASKS)
def test_no_input_shared_between_calibration_and_test(task):
    cal = {r["input"] for r in load(task, "calibration")}
    test = {r["input"] for r in load(task, "test")}
    assert not cal & test


@pytest.mark.parametrize("split", SPLITS)
def test_kjv2web_ids_unique(split):
    ids = [r["id"] for r in load("kjv2web", split)]
    assert len(ids) == len(set(ids))


def test_kjv2web_chapters_disjoint():
    def chapters(split):
        return {r["id"].rsplit(":", 1)[0] for r in load("kjv2web", split)}
    cal, test = chapters("calibration"), chapters("test")
    assert len(cal) >= 20 and len(test) >= 20
    assert not cal & test


@pytest.mark.parametrize("split", SPLITS)
def test_prose_draws_from_every_source(split):
    sources = {r["source"] for r in load("prose", split)}
    assert sources == PROSE_SOURCES


def test_prose_documents_disjoint():
    def docs(split):
        return {(r["source"], r["doc"]) for r in load("prose", split)}
    assert not docs("calibration") & docs("test")


def test_prose_bible_chapters_match_kjv2web_split():
    """Bible text held out of one task is not a held-out set of the other."""
    def kjv(split):
        return {r["id"].rsplit(":", 1)[0] for r in load("kjv2web", split)}
    def web(split):
        return {r["doc"] for r in load("prose", split) if r["source"] == "web"}
    assert not web("calibration") & kjv("test")
    assert not web("test") & kjv("calibration")
