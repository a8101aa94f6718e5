#!/usr/bin/python3
"""`calm serve` end to end over loopback HTTP, with the bundled kjv2web model.

Starts real servers on free ports (--port 0) and checks what a client sees:
completions equal `calm generate` for the same settings (token for token, exit
layer for exit layer), streamed chunks join up to the same text, verify mode
gives the full model's text, bad requests get 400 naming the field, a full
queue answers 429 at once, many concurrent clients all succeed, a client that
leaves mid-stream frees its decoder, SIGTERM finishes the requests in flight
and exits 0, the API key is enforced. Standard library only; everything
written lives in a temporary directory.

Usage: serve_test.py CALM  (the calm binary)
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

CALM = None
MODEL = "kjv2web"
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PROMPTS = [
    "And God said, Let there be light",
    "In the beginning God created the heaven and the earth.",
    "The LORD is my shepherd; I shall not want.",
    "Blessed are the meek: for they shall inherit the earth.",
]
# Sampling at a high temperature almost never draws the end of sequence, so
# such a request runs its whole max_tokens: a request that takes a while.
LONG = {"prompt": "And God said", "max_tokens": 200, "temperature": 5.0, "seed": 2, "calm": {"mode": "full"}}


class Server:
    """A `calm serve` process on a free loopback port; its log kept for checks."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([CALM, "serve", "--model", MODEL, "--port", "0", *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.log = []
        deadline = time.time() + 30
        self.port = None
        while self.port is None:
            line = self.proc.stderr.readline()
            if not line or time.time() > deadline:
                raise RuntimeError("calm serve did not start: " + "".join(self.log) + (line or ""))
            self.log.append(line)
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
        self.reader = threading.Thread(target=self._read_log, daemon=True)
        self.reader.start()

    def _read_log(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def request(self, method, path, body=None, headers=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        text = resp.read().decode("utf-8")
        conn.close()
        return resp.status, text

    def complete(self, body, **kw):
        status, text = self.request("POST", "/v1/completions", body, **kw)
        return status, json.loads(text) if text else None

    def stream(self, body):
        """The events of a streamed completion, [DONE] included, as parsed JSON (or the string)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("POST", "/v1/completions", body=json.dumps({**body, "stream": True}))
        resp = conn.getresponse()
        assert resp.status == 200, resp.status
        assert resp.getheader("Content-Type").startswith("text/event-stream")
        events = []
        for event in resp.read().decode("utf-8").split("\n\n"):
            if not event:
                continue
            assert event.startswith("data: "), event
            payload = event[len("data: "):]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
        conn.close()
        return events

    def metric(self, name):
        status, text = self.request("GET", "/metrics")
        assert status == 200
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(name + " not in /metrics:\n" + text)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(timeout=5)
        return self.proc.returncode


def open_stream(server, body):
    """A streamed completion on a raw socket, read up to its first event: the decoder is busy with it."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    data = json.dumps({**body, "stream": True})
    sock.sendall(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Content-Length: %d\r\n\r\n%s" % (len(data), data)).encode())
    received = b""
    while b"data: " not in received:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError("connection closed before the first event: %r" % received)
        received += chunk
    if not received.startswith(b"HTTP/1.1 200"):
        raise AssertionError(received.decode(errors="replace"))
    return sock, received


def read_to_end(sock, received):
    """The rest of a chunked response, and its body de-chunked."""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
        if received.endswith(b"\r\n0\r\n\r\n"):
            break
    sock.close()
    raw = received.split(b"\r\n\r\n", 1)[1]
    body = b""
    while raw:
        size_line, raw = raw.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            break
        body += raw[:size]
        raw = raw[size + 2:]
    return body.decode("utf-8")


def generate(*args):
    """`calm generate --json` with the same settings."""
    out = subprocess.run([CALM, "generate", "--model", MODEL, "--json", *args], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


class Completions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server("--lambda", "0.5", "--max-new-tokens", "24", "--decoders", "2")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_equal_to_generate(self):
        for prompt in PROMPTS:
            want = generate("--prompt", prompt, "--lambda", "0.5", "--max-new-tokens", "24")
            status, got = self.server.complete({"model": MODEL, "prompt": prompt})
            self.assertEqual(status, 200, got)
            self.assertEqual(got["object"], "text_completion")
            self.assertEqual(got["choices"][0]["text"], want["text"])
            self.assertEqual(got["calm"]["exit_layers"], want["exit_layers"])
            self.assertAlmostEqual(got["calm"]["average_layers"], want["average_layers"], places=6)
            self.assertEqual(got["usage"]["completion_tokens"], len(want["token_ids"]))
            self.assertEqual(got["usage"]["prompt_tokens"], len(want["prompt_ids"]))
            self.assertEqual(got["choices"][0]["finish_reason"], "stop" if want["stopped_at_eos"] else "length")
            # Without a thresholds file nothing is guaranteed, and the response says so.
            self.assertIsNone(got["calm"]["thresholds"])
            self.assertFalse(got["calm"]["guarantee_applies"])

    def test_max_tokens_keeps_the_schedule(self):
        # Fewer tokens than the server's max_new_tokens: the same thresholds
        # (N stays 24), so the first tokens of the longer run.
        want = generate("--prompt", PROMPTS[1], "--lambda", "0.5", "--max-new-tokens", "24")
        status, got = self.server.complete({"prompt": PROMPTS[1], "max_tokens": 5})
        self.assertEqual(status, 200, got)
        self.assertEqual(got["calm"]["exit_layers"], want["exit_layers"][:5])
        self.assertEqual(got["usage"]["completion_tokens"], min(5, len(want["token_ids"])))

    def test_full_and_verify_give_the_full_model(self):
        for prompt in PROMPTS:
            full = generate("--prompt", prompt, "--lambda", "1", "--max-new-tokens", "24")
            status, got = self.server.complete({"prompt": prompt, "calm": {"mode": "full"}})
            self.assertEqual(status, 200, got)
            self.assertEqual(got["choices"][0]["text"], full["text"])
            self.assertEqual(got["calm"]["exit_layers"], [8] * len(full["token_ids"]))
            status, got = self.server.complete({"prompt": prompt, "calm": {"mode": "verify"}})
            self.assertEqual(status, 200, got)
            self.assertEqual(got["choices"][0]["text"], full["text"])
            self.assertGreater(got["calm"]["verify"]["passes"], 0)

    def test_sampling_with_a_seed(self):
        want = generate("--prompt", PROMPTS[0], "--lambda", "0.5", "--max-new-tokens", "24",
                        "--temperature", "1.5", "--top-k", "20", "--seed", "7")
        status, got = self.server.complete({"prompt": PROMPTS[0], "temperature": 1.5, "top_k": 20, "seed": 7})
        self.assertEqual(status, 200, got)
        self.assertEqual(got["choices"][0]["text"], want["text"])

    def test_stream_reassembles(self):
        for prompt in PROMPTS:
            status, whole = self.server.complete({"prompt": prompt})
            self.assertEqual(status, 200)
            events = self.server.stream({"prompt": prompt})
            self.assertEqual(events[-1], "[DONE]")
            chunks = events[:-1]
            self.assertGreater(len(chunks), 1)
            self.assertEqual("".join(c["choices"][0]["text"] for c in chunks), whole["choices"][0]["text"])
            self.assertTrue(all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1]))
            self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], whole["choices"][0]["finish_reason"])
            layers = [l for c in chunks for l in c["calm"]["exit_layers"]]
            self.assertEqual(layers, whole["calm"]["exit_layers"])
            self.assertEqual(chunks[-1]["usage"], whole["usage"])

    def test_stop_sequence(self):
        status, whole = self.server.complete({"prompt": PROMPTS[0], "calm": {"mode": "full"}})
        text = whole["choices"][0]["text"]
        words = text.split()
        self.assertGreater(len(words), 2, text)
        stop = " " + words[2]
        status, got = self.server.complete({"prompt": PROMPTS[0], "calm": {"mode": "full"}, "stop": [stop]})
        self.assertEqual(status, 200, got)
        self.assertEqual(got["choices"][0]["text"], text[:text.index(stop)])
        self.assertEqual(got["choices"][0]["finish_reason"], "stop")
        events = self.server.stream({"prompt": PROMPTS[0], "calm": {"mode": "full"}, "stop": stop})
        self.assertEqual("".join(e["choices"][0]["text"] for e in events[:-1]), text[:text.index(stop)])

    def test_models_and_health(self):
        status, text = self.server.request("GET", "/v1/models")
        self.assertEqual(status, 200)
        models = json.loads(text)
        self.assertEqual([m["id"] for m in models["data"]], [MODEL])
        self.assertEqual(models["data"][0]["calm"]["rule"]["lambda"], 0.5)
        self.assertEqual(models["data"][0]["calm"]["max_tokens"], 24)
        status, text = self.server.request("GET", "/health")
        self.assertEqual((status, json.loads(text)["status"]), (200, "ok"))

    def test_bad_requests(self):
        cases = [
            ("{", "not valid JSON"),
            ("[1, 2]", "expected a JSON object"),
            ({}, "key 'prompt' missing"),
            ({"prompt": 3}, "key 'prompt' must be a string"),
            ({"prompt": ""}, "key 'prompt' must not be empty"),
            ({"prompt": "x", "max_tokens": 0}, "key 'max_tokens' is out of range"),
            ({"prompt": "x", "max_tokens": 10 ** 9}, "key 'max_tokens' is out of range"),
            ({"prompt": "x", "max_tokens": "5"}, "key 'max_tokens' must be an integer"),
            ({"prompt": "x", "temperature": -1}, "key 'temperature' is out of range"),
            ({"prompt": "x", "repetition_penalty": 0}, "key 'repetition_penalty' must be above 0"),
            ({"prompt": "x", "no_repeat_ngram_size": -1}, "key 'no_repeat_ngram_size' is out of range"),
            ({"prompt": "x", "stream": "yes"}, "key 'stream' must be true or false"),
            ({"prompt": "x", "stop": [1]}, "key 'stop' must be a string or an array"),
            ({"prompt": "x", "stop": ["a"] * 9}, "key 'stop' holds 9 sequences"),
            ({"prompt": "x", "top_p": 0.9}, "key 'top_p' is not supported"),
            ({"prompt": "x", "n": 2}, "key 'n' is out of range"),
            ({"prompt": "x", "model": "../../etc"}, "key 'model' names"),
            ({"prompt": "x", "calm": {"mode": "fast"}}, "key 'calm.mode' unknown mode 'fast'"),
            ({"prompt": "x", "calm": {"lambda": 0.1}}, "key 'calm.lambda' may not be set"),
            ({"prompt": "x", "calm": {"path": "/etc/passwd"}}, "key 'calm.path' is not supported"),
            ({"prompt": "x", "calm": {"mode": "verify"}, "temperature": 1}, "key 'calm.mode' 'verify'"),
            ({"prompt": "x" * 70000}, "key 'prompt' is 70000 bytes long"),
            ({"prompt": "And God said " * 200}, "fit in the model's context"),  # over the context: refused, never cut
        ]
        for body, message in cases:
            status, got = self.server.complete(body)
            self.assertEqual(status, 400, (body if isinstance(body, str) else json.dumps(body)[:80], got))
            self.assertIn(message, got["error"]["message"])
            self.assertEqual(got["error"]["type"], "invalid_request_error")
        status, text = self.server.request("GET", "/v1/nothing")
        self.assertEqual(status, 404)
        self.assertIn("/v1/nothing", json.loads(text)["error"]["message"])
        # The server is still fine.
        self.assertEqual(self.server.complete({"prompt": PROMPTS[0]})[0], 200)


class Limits(unittest.TestCase):
    def test_body_limit(self):
        server = Server("--max-body-bytes", "4096")
        try:
            status, text = server.request("POST", "/v1/completions", json.dumps({"prompt": "x" * 5000}))
            self.assertEqual(status, 413)
            self.assertIn("too large", json.loads(text)["error"]["message"])
        finally:
            self.assertEqual(server.stop(), 0)

    def test_api_key(self):
        with tempfile.TemporaryDirectory() as tmp:
            key_file = os.path.join(tmp, "key")
            with open(key_file, "w") as f:
                f.write("s3cret-key\n")
            server = Server("--api-key-file", key_file)
            try:
                self.assertEqual(server.complete({"prompt": "x"})[0], 401)
                wrong = {"Authorization": "Bearer s3cret-kez"}
                self.assertEqual(server.complete({"prompt": "x"}, headers=wrong)[0], 401)
                self.assertEqual(server.request("GET", "/v1/models")[0], 401)
                self.assertEqual(server.request("GET", "/metrics")[0], 401)
                self.assertEqual(server.request("GET", "/health")[0], 200)  # for probes
                right = {"Authorization": "Bearer s3cret-key"}
                self.assertEqual(server.complete({"prompt": "light"}, headers=right)[0], 200)
            finally:
                self.assertEqual(server.stop(), 0)

    def test_refuses_to_start(self):
        for args, message in [(["--host", "192.0.2.1"], "cannot listen"),
                              (["--api-key-file", "/no/such/key"], "/no/such/key: cannot open"),
                              (["--decoders", "0"], "--decoders")]:
            r = subprocess.run([CALM, "serve", "--model", MODEL, "--port", "0", *args], capture_output=True,
                               text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(message, r.stderr)

    def test_port_in_use(self):
        # A second server on a port in use must fail, not share the port.
        server = Server()
        try:
            r = subprocess.run([CALM, "serve", "--model", MODEL, "--port", str(server.port)], capture_output=True,
                               text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(f"cannot listen on 127.0.0.1:{server.port} (in use", r.stderr)
            status, _ = server.request("GET", "/health")
            self.assertEqual(status, 200)
        finally:
            self.assertEqual(server.stop(), 0)


class Load(unittest.TestCase):
    def test_queue_full_answers_429_at_once(self):
        # One decoder, no waiting room: while a long request decodes, the next is refused.
        server = Server("--decoders", "1", "--queue", "0", "--max-new-tokens", "200")
        try:
            # While the long request decodes, the next one is refused at once.
            # On a badly overloaded machine the long one may end before the
            # second arrives (then that one is served): try again, a few times.
            refused = 0
            for attempt in range(5):
                sock, received = open_stream(server, LONG)  # the decoder is busy with it
                start = time.time()
                status, got = server.complete({"prompt": "light"})
                self.assertIn(status, (200, 429), got)
                if status == 429:
                    refused += 1
                    self.assertIn("decoders are busy", got["error"]["message"])
                    self.assertLess(time.time() - start, 5)  # answered, not queued (loose: never a timing test)
                self.assertTrue(read_to_end(sock, received).endswith("data: [DONE]\n\n"))  # the long one completes
                if refused:
                    break
            self.assertEqual(refused, 1)
            self.assertEqual(server.metric('calm_requests_total{status="429"}'), 1)
        finally:
            self.assertEqual(server.stop(), 0)

    def test_concurrent_clients(self):
        server = Server("--lambda", "0.5", "--decoders", "2", "--queue", "64")
        try:
            expected = {}
            for p in PROMPTS:
                status, got = server.complete({"prompt": p})
                self.assertEqual(status, 200)
                expected[p] = got["choices"][0]["text"]
            failures = []

            def client(i):
                for j in range(20):
                    p = PROMPTS[(i + j) % len(PROMPTS)]
                    try:
                        if j % 5 == 0:
                            events = server.stream({"prompt": p})
                            text = "".join(e["choices"][0]["text"] for e in events[:-1])
                        else:
                            status, got = server.complete({"prompt": p})
                            if status != 200:
                                failures.append((i, j, status, got))
                                continue
                            text = got["choices"][0]["text"]
                        if text != expected[p]:
                            failures.append((i, j, "text", text))
                    except Exception as e:  # noqa: BLE001 (any failure is reported)
                        failures.append((i, j, repr(e)))

            threads = [threading.Thread(target=client, args=(i,)) for i in range(32)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(failures, [])
            self.assertEqual(server.metric('calm_requests_total{status="200"}'), 32 * 20 + len(PROMPTS))
        finally:
            self.assertEqual(server.stop(), 0)

    def test_timeout(self):
        # --timeout 0.1 s: a 200-token request behind another one takes longer
        # (waiting plus decoding), so it is cancelled and answered 504.
        server = Server("--decoders", "1", "--max-new-tokens", "200", "--timeout", "0.1")
        try:
            sock, received = open_stream(server, LONG)
            status, got = server.complete(LONG)
            self.assertEqual(status, 504, got)
            self.assertIn("timed out", got["error"]["message"])
            events = [json.loads(e[6:]) for e in read_to_end(sock, received).split("\n\n") if e.startswith("data: {")]
            # The first one either ended (length), ran out of time decoding
            # (timeout), or, on a slow machine, before it started (an error event).
            last = events[-1]
            if "error" in last:
                self.assertEqual(last["error"]["type"], "timeout")
            else:
                self.assertIn(last["choices"][0]["finish_reason"], ("timeout", "length"))
            self.assertGreaterEqual(server.metric('calm_requests_total{status="504"}'), 1)
        finally:
            self.assertEqual(server.stop(), 0)

    def test_disconnect_frees_the_decoder(self):
        server = Server("--decoders", "1", "--max-new-tokens", "200")
        try:
            sock, received = open_stream(server, LONG)
            sock.close()  # gone after the first token
            deadline = time.time() + 20
            while server.metric('calm_requests_total{status="499"}') < 1 and time.time() < deadline:
                time.sleep(0.02)
            self.assertEqual(server.metric('calm_requests_total{status="499"}'), 1)
            # The log line is read from the server's stderr by another thread:
            # on a loaded machine it may arrive after the metric.
            left = []
            while not left and time.time() < deadline + 10:
                left = [l for l in server.log if "the client left after" in l]
                time.sleep(0.02)
            self.assertEqual(len(left), 1, server.log)
            tokens = int(re.search(r"after (\d+) tokens", left[0]).group(1))
            # The whole request would run 200 tokens; it stopped soon after the
            # client left (the second write to a closed socket fails): 6-20
            # tokens in on an idle machine, fewer than 200 on any.
            self.assertLess(tokens, 200, left[0])
            self.assertEqual(server.complete({"prompt": "light"})[0], 200)  # the decoder is free
        finally:
            self.assertEqual(server.stop(), 0)

    def test_sigterm_drains(self):
        server = Server("--decoders", "1", "--max-new-tokens", "200")
        sock, received = open_stream(server, LONG)  # decoding
        server.proc.send_signal(signal.SIGTERM)
        rest = read_to_end(sock, received)
        self.assertTrue(rest.rstrip().endswith("data: [DONE]"), rest[-200:])
        events = [json.loads(e[6:]) for e in rest.split("\n\n") if e.startswith("data: {")]
        self.assertEqual(events[-1]["choices"][0]["finish_reason"], "length")
        self.assertEqual(events[-1]["usage"]["completion_tokens"], 200)
        self.assertEqual(server.proc.wait(timeout=20), 0)
        server.reader.join(timeout=5)
        self.assertTrue(any("SIGTERM" in l for l in server.log), server.log)


class WithThresholds(unittest.TestCase):
    def test_bundled_thresholds(self):
        # Without --thresholds or --lambda, as `calm generate`: the model's
        # bundled certified lambda, whose file then stands behind the answers.
        server = Server("--max-new-tokens", "64")
        try:
            for prompt in PROMPTS[:2]:
                want = generate("--prompt", prompt)
                status, got = server.complete({"prompt": prompt})
                self.assertEqual(status, 200, got)
                self.assertEqual(got["choices"][0]["text"], want["text"])
                self.assertEqual(got["calm"]["exit_layers"], want["exit_layers"])
                self.assertEqual(got["calm"]["lambda"], want["lambda"])
                self.assertLess(got["calm"]["lambda"], 1.0)
                self.assertEqual(got["calm"]["thresholds"]["lambda"], want["lambda"])
                self.assertEqual(got["calm"]["thresholds"]["certification"], "certified")
                self.assertTrue(got["calm"]["guarantee_applies"])
            # The repetition remedies as calm generate applies them, at the
            # same lambda; the calibration, made without them, no longer covers the answer.
            want = generate("--prompt", PROMPTS[0], "--lambda", str(got["calm"]["lambda"]), "--no-repeat-ngram", "2",
                            "--repetition-penalty", "1.3")
            status, got = server.complete({"prompt": PROMPTS[0], "no_repeat_ngram_size": 2, "repetition_penalty": 1.3})
            self.assertEqual(status, 200, got)
            self.assertEqual(got["choices"][0]["text"], want["text"])
            self.assertFalse(got["calm"]["guarantee_applies"])
            # A sampled answer is not what the greedy calibration scored either.
            status, got = server.complete({"prompt": PROMPTS[0], "temperature": 0.7, "seed": 3})
            self.assertEqual(status, 200, got)
            self.assertFalse(got["calm"]["guarantee_applies"])
            self.assertEqual(got["calm"]["thresholds"]["certification"], "certified")
        finally:
            self.assertEqual(server.stop(), 0)
        self.assertTrue(any("bundled calibration" in l for l in server.log), server.log)

    def test_thresholds_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "thresholds.json")
            subprocess.run([CALM, "calibrate", "--model", MODEL, "--limit", "10", "--delta", "0.25", "--out", path],
                           check=True, capture_output=True)
            with open(path) as f:
                t = json.load(f)
            server = Server("--thresholds", path)
            try:
                for prompt in PROMPTS[:2]:
                    want = generate("--prompt", prompt, "--lambda", str(t["lambda"]), "--tau", str(t["tau"]),
                                    "--measure", t["measure"], "--max-new-tokens", str(t["max_new_tokens"]),
                                    "--first-exit-layer", str(t["first_exit_layer"]),
                                    "--check-interval", str(t["check_interval"]), "--kv", t["kv_mode"])
                    status, got = server.complete({"prompt": prompt})
                    self.assertEqual(status, 200, got)
                    self.assertEqual(got["choices"][0]["text"], want["text"])
                    self.assertEqual(got["calm"]["exit_layers"], want["exit_layers"])
                    served = got["calm"]["thresholds"]
                    self.assertEqual((served["delta"], served["epsilon"]), (t["delta"], t["epsilon"]))
                    self.assertEqual(served["lambda"], t["lambda"])
                    self.assertRegex(served["hash"], "^[0-9a-f]{16}$")
                    self.assertTrue(got["calm"]["guarantee_applies"])
            finally:
                self.assertEqual(server.stop(), 0)
            # The rule comes from the file: options that would change it are refused.
            r = subprocess.run([CALM, "serve", "--thresholds", path, "--lambda", "0.2"], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 2)
            self.assertIn("--lambda cannot be combined", r.stderr)



class GuaranteeMonitor(unittest.TestCase):
    """Every request audited (--audit-fraction 1): with the calibrated delta the
    monitor stays quiet; with delta made tiny the same traffic fires the alarm."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        # The model's bundled file: calibrated on its 1000 calibration examples
        # (softmax, textual ROUGE-L, delta 0.1, epsilon 0.05).
        cls.real = os.path.join(SOURCE, "resources", "models", MODEL, "thresholds", "softmax-d0.1.json")
        with open(cls.real) as f:
            t = json.load(f)
        t["delta"] = 1e-6  # far below the loss this traffic has
        cls.tiny = os.path.join(cls.tmp.name, "tiny.json")
        with open(cls.tiny, "w") as f:
            json.dump(t, f)
        with open(os.path.join(SOURCE, "resources", "data", MODEL, "test.jsonl")) as f:
            cls.prompts = [json.loads(line)["input"] for line in f if line.strip()][:60]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def serve_and_audit(self, thresholds):
        server = Server("--thresholds", thresholds, "--audit-fraction", "1", "--decoders", "2")
        try:
            for p in self.prompts:
                status, got = server.complete({"prompt": p})
                self.assertEqual(status, 200, got)
            deadline = time.time() + 60
            while server.metric("calm_audit_completed_total") < len(self.prompts) and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual(server.metric("calm_audit_completed_total"), len(self.prompts))
            status, page = server.request("GET", "/status")
            self.assertEqual(status, 200)
            metrics = {name: server.metric(name) for name in
                       ["calm_guarantee_alarm", "calm_audit_mean_loss", "calm_audit_loss_lower_bound",
                        "calm_audit_loss_upper_bound", "calm_guarantee_delta"]}
        finally:
            self.assertEqual(server.stop(), 0)
        return metrics, page, "".join(server.log)

    def test_quiet_with_the_calibrated_delta(self):
        m, page, log = self.serve_and_audit(self.real)
        self.assertEqual(m["calm_guarantee_alarm"], 0, m)
        self.assertLess(m["calm_audit_loss_lower_bound"], m["calm_guarantee_delta"])
        self.assertLessEqual(m["calm_audit_loss_lower_bound"], m["calm_audit_mean_loss"])
        self.assertLessEqual(m["calm_audit_mean_loss"], m["calm_audit_loss_upper_bound"])
        self.assertNotIn("DRIFT ALARM", log)
        self.assertIn("No drift", page)

    def test_alarm_with_a_tiny_delta(self):
        m, page, log = self.serve_and_audit(self.tiny)
        self.assertGreater(m["calm_audit_mean_loss"], 0.0, "this traffic must have some loss for the check")
        self.assertEqual(m["calm_guarantee_alarm"], 1, m)
        self.assertGreater(m["calm_audit_loss_lower_bound"], m["calm_guarantee_delta"])
        self.assertIn("DRIFT ALARM", log)
        self.assertIn("DRIFT ALARM", page)


if __name__ == "__main__":
    CALM = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
