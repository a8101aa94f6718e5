#!/usr/bin/python3
"""A bounded load test of `calm serve` over loopback: full vs CALM vs verify.

Starts `calm serve` (with a thresholds file, or --lambda), then for each mode
sends the same prompts from C concurrent clients, every request streamed so
that the time to the first token is seen, and reports requests/s, generated
tokens/s, p50/p99 latency and p50/p99 time to first token. The modes run
against the same server (the same warm decoders), interleaved: R rounds, each
running every mode once, the order rotated from round to round, so that a
machine whose speed drifts affects all modes alike. Rates are the median over
rounds; latencies pool every request of the mode. The client runs on the same
machine, so it competes with the server for the cores. Standard library only.

usage: bench/serve_load.py CALM [--model NAME] [--thresholds FILE | --lambda X]
         [--data test.jsonl] [--requests N] [--clients C] [--decoders K] [--max-tokens M]
         [--modes full,calm,verify] [--rounds R]
"""
import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def start_server(args):
    cmd = [args.calm, "serve", "--model", args.model, "--port", "0", "--decoders", str(args.decoders),
           "--queue", str(max(16, args.clients)), "--audit-fraction", "0"]
    cmd += ["--thresholds", args.thresholds] if args.thresholds else ["--lambda", str(args.lambda_)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, int(m.group(1))
    raise RuntimeError("calm serve did not start")


def one_request(port, prompt, mode, max_tokens):
    """(latency s, time to first token s, tokens) of one streamed completion."""
    body = {"prompt": prompt, "stream": True, "calm": {"mode": mode}}
    if max_tokens:
        body["max_tokens"] = max_tokens
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/v1/completions", body=json.dumps(body))
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError("HTTP %d: %s" % (resp.status, resp.read()[:200]))
    first = None
    tokens = 0
    buffer = b""
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            break
        if first is None and b"data: " in chunk:
            first = time.perf_counter() - start
        buffer += chunk
    conn.close()
    for event in buffer.decode("utf-8").split("\n\n"):
        if event.startswith("data: {"):
            usage = json.loads(event[6:]).get("usage")
            if usage:
                tokens = usage["completion_tokens"]
    return time.perf_counter() - start, first, tokens


def run_mode(port, prompts, mode, clients, max_tokens):
    results, errors = [], []
    lock = threading.Lock()
    next_index = [0]

    def client():
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= len(prompts):
                return
            try:
                r = one_request(port, prompts[i], mode, max_tokens)
                with lock:
                    results.append(r)
            except Exception as e:  # noqa: BLE001 (reported below)
                with lock:
                    errors.append(repr(e))

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError("%d failed requests, e.g. %s" % (len(errors), errors[0]))
    return wall, results


def summarize(mode, rounds):
    """Median rates over rounds; latency percentiles over every request."""
    def pct(values, q):
        return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]

    results = [r for _, rs in rounds for r in rs]
    latency = sorted(r[0] for r in results)
    ttft = sorted(r[1] for r in results)
    return {"mode": mode, "rounds": len(rounds), "requests": len(results),
            "requests_per_s": statistics.median(len(rs) / wall for wall, rs in rounds),
            "tokens_per_s": statistics.median(sum(r[2] for r in rs) / wall for wall, rs in rounds),
            "tokens": sum(r[2] for r in results),
            "latency_p50_ms": 1e3 * statistics.median(latency), "latency_p99_ms": 1e3 * pct(latency, 0.99),
            "ttft_p50_ms": 1e3 * statistics.median(ttft), "ttft_p99_ms": 1e3 * pct(ttft, 0.99)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("calm")
    p.add_argument("--model", default="kjv2web")
    p.add_argument("--thresholds")
    p.add_argument("--lambda", dest="lambda_", type=float, default=0.5)
    p.add_argument("--data")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--decoders", type=int, default=2)
    p.add_argument("--max-tokens", type=int, default=0)
    p.add_argument("--modes", default="full,calm,verify")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    data = args.data or os.path.join(HERE, "..", "resources", "data", args.model, "test.jsonl")
    with open(data) as f:
        inputs = [json.loads(line)["input"] for line in f if line.strip()]
    prompts = [inputs[i % len(inputs)] for i in range(args.requests)]
    proc, port = start_server(args)
    try:
        modes = args.modes.split(",")
        for mode in modes:
            run_mode(port, prompts[:min(20, len(prompts))], mode, args.clients, args.max_tokens)  # warm-up
        measured = {mode: [] for mode in modes}
        for r in range(args.rounds):
            for k in range(len(modes)):
                mode = modes[(r + k) % len(modes)]
                measured[mode].append(run_mode(port, prompts, mode, args.clients, args.max_tokens))
        rows = [summarize(mode, measured[mode]) for mode in modes]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print("| mode | requests/s | tokens/s | latency p50 / p99 (ms) | first token p50 / p99 (ms) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| %s | %.1f | %.0f | %.1f / %.1f | %.1f / %.1f |" % (
            r["mode"], r["requests_per_s"], r["tokens_per_s"], r["latency_p50_ms"], r["latency_p99_ms"],
            r["ttft_p50_ms"], r["ttft_p99_ms"]))
    full = next((r for r in rows if r["mode"] == "full"), None)
    if full:
        for r in rows:
            print("%s: %.2fx the full model's tokens/s" % (r["mode"], r["tokens_per_s"] / full["tokens_per_s"]))
    print("(%d requests per mode and round, %d rounds, %d clients, %d decoders, model %s, %s)" % (
        args.requests, args.rounds, args.clients, args.decoders, args.model,
        "thresholds " + args.thresholds if args.thresholds else "lambda %g" % args.lambda_), file=sys.stderr)


if __name__ == "__main__":
    main()
