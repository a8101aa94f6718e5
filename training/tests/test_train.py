"""train.py driven through its command line on a tiny T5: stage 1 with weight
snapshots, a resume that continues where the checkpoint left off, stage 2,
export, and the snapshot BLEU curve.

Run: /usr/bin/python3 -m pytest -q training/tests
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TRAINING = os.path.dirname(HERE)
REPO = os.path.dirname(TRAINING)
sys.path.insert(0, TRAINING)

import train  # noqa: E402
import snapshot_curve  # noqa: E402
import evaluate  # noqa: E402
from calm.export import load_model_dir  # noqa: E402


def tiny_config(tmp_path):
    pairs = evaluate.read_jsonl(os.path.join(REPO, "resources/data/kjv2web/calibration.jsonl"), 300)
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"input": r["input"], "reference": r["reference"]}) + "\n"
                            for r in pairs))
    cfg = json.load(open(os.path.join(TRAINING, "configs", "kjv2web.json")))
    cfg["name"] = "tiny"
    cfg["data"].update(train=str(data), heldout_every=20)
    cfg["tokenizer"]["vocab_size"] = 300
    cfg["model"].update(d_model=16, d_kv=4, num_heads=4, d_ff=32, num_layers=1,
                        num_decoder_layers=3, relative_attention_num_buckets=8,
                        relative_attention_max_distance=16, dropout_rate=0.0)
    cfg["train"].update(batch_tokens=256, warmup_steps=2, log_every=1, eval_batches=2)
    cfg["stage2"].update(batch_tokens=256, log_every=1)
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def run_train(*args):
    train.main(list(args) + ["--threads", "1", "--device", "cpu"])


def test_stage1_resume_snapshots_stage2_export_and_curve(tmp_path):
    cfg = tiny_config(tmp_path)
    runs = str(tmp_path / "runs")
    common = ["--config", cfg, "--runs-dir", runs]
    run_dir = os.path.join(runs, "tiny")
    run_train("tokenizer", *common)
    run_train("stage1", *common, "--max-steps", "4", "--snapshot-minutes", "1e-9")
    ck = torch.load(os.path.join(run_dir, "ckpt.pt"), map_location="cpu")
    assert ck["sched"]["step"] == 4 and ck["sched"]["tokens"] > 0
    snaps = sorted(os.listdir(os.path.join(run_dir, "snapshots")))
    # one per step (the interval is tiny), the last one from the end of stage 1
    assert snaps[0] == "step000001.pt" and snaps[-1] == "step000004.pt"
    tokens_after_4 = ck["sched"]["tokens"]

    # resuming with a longer schedule continues from step 4 and changes the weights
    run_train("stage1", *common, "--resume", "--max-steps", "7")
    ck2 = torch.load(os.path.join(run_dir, "ckpt.pt"), map_location="cpu")
    assert ck2["sched"]["step"] == 7 and ck2["sched"]["tokens"] > tokens_after_4
    assert ck2["sched"]["total"] == 7
    w = "decoder.final_layer_norm.weight"
    assert not torch.equal(ck["model"][w], ck2["model"][w])
    assert len(ck2["valid_ce"]) == 3
    log = open(os.path.join(run_dir, "log.txt")).read()
    assert "resumed at step 4" in log

    run_train("stage2", *common, "--max-steps", "2")
    run_train("export", *common, "--dtype", "F32")
    model = load_model_dir(os.path.join(run_dir, "model"))
    assert model.classifier is not None
    torch.testing.assert_close(model.state_dict()[w], ck2["model"][w])
    # MODEL.md names both stage-1 sessions (the run and its resume) as they were typed
    assert len(ck2["sched"]["commands"]) == 2
    md_text = open(os.path.join(run_dir, "model", "MODEL.md")).read()
    assert md_text.count("--max-steps 4") == 1 and md_text.count("--resume --max-steps 7") == 1

    rows = [{"input": "In the beginning", "reference": "In the beginning"},
            {"input": "And God said", "reference": "God said"}]
    points = snapshot_curve.curve(run_dir, rows)
    assert [p["step"] for p in points] == [1, 2, 3, 4]
    assert all(0.0 <= p["bleu"] <= 100.0 and p["target_tokens"] > 0 for p in points)
    md = snapshot_curve.markdown(points, evaluate.text_metrics([r["input"] for r in rows],
                                                               [r["reference"] for r in rows]), 2)
    assert md.count("\n| ") == 1 + len(points) and "copy baseline" in md
