"""Integration tests of cic-node-sim, the vLLM stand-in: the real binary on port 0, plain HTTP.

The token rules checked here are the ones docs/node-sim.md documents; `count_tokens` below is
their reference implementation.
"""
import base64
import http.client
import json
import math
import signal
import socket
import struct
import threading
import time
import unittest

import harness

BIN = "cic-node-sim"
JSON_HEADERS = {"Content-Type": "application/json"}


def count_tokens(text):
    """A run of ASCII letters/digits (or non-ASCII bytes) is one token; any other non-space byte too."""
    tokens, in_word = 0, False
    for b in text.encode():
        if 48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122 or b >= 0x80:
            tokens += 0 if in_word else 1
            in_word = True
        else:
            in_word = False
            if b not in b" \t\n\r\f\v":
                tokens += 1
    return tokens


def chat_body(content="Hello, world!", **extra):
    body = {"model": "sim-chat", "messages": [{"role": "user", "content": content}]}
    body.update(extra)
    return body


def post(port, path, body, headers=None, timeout=30):
    return harness.request(port, "POST", path, body=body, headers={**JSON_HEADERS, **(headers or {})},
                           timeout=timeout)


def stream(port, path, body, headers=None, stop_after_content=None):
    """Streams a request; returns [(arrival monotonic time, payload string)] of its data: lines.

    With `stop_after_content=k` the connection is closed after k content events (a client leaving).
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    events, content = [], 0
    try:
        conn.request("POST", path, body=json.dumps(body), headers={**JSON_HEADERS, **(headers or {})})
        resp = conn.getresponse()
        assert resp.status == 200, (resp.status, resp.read())
        assert resp.getheader("content-type").startswith("text/event-stream")
        while True:
            line = resp.readline()
            if not line:
                break
            line = line.decode().rstrip("\n")
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            events.append((time.monotonic(), payload))
            if payload == "[DONE]":
                break
            chunk = json.loads(payload)
            if chunk["choices"] and (chunk["choices"][0].get("delta", {}).get("content") or
                                     chunk["choices"][0].get("text")):
                content += 1
                if stop_after_content is not None and content >= stop_after_content:
                    break
    finally:
        conn.close()
    return events


def json_events(events):
    return [json.loads(p) for _, p in events if p != "[DONE]"]


def metric_value(text, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, value = line.rsplit(" ", 1)
        sample = head.split("{", 1)[0]
        if sample != name:
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
            found = True
    return total if found else None


class SharedServerTest(unittest.TestCase):
    """Tests that can share one default server (no delays, no faults)."""

    @classmethod
    def setUpClass(cls):
        cls.procs = harness.Processes()
        cls.proc = cls.procs.start(BIN, ["--listen", "127.0.0.1:0", "--model", "sim-chat",
                                         "--model", "sim-base:completion", "--model", "sim-embed:embedding",
                                         "--max-model-len", "256", "--embedding-dim", "64"], "shared")
        cls.port = cls.proc.ready["port"]

    @classmethod
    def tearDownClass(cls):
        cls.procs.stop_all()

    def test_ready_file_and_stdout(self):
        self.assertEqual(self.proc.ready["pid"], self.proc.pid)
        harness.wait_for(lambda: f"listening on 127.0.0.1:{self.port}" in self.proc.log(), what="stdout line")

    def test_chat_shape_and_usage_matches_text(self):
        r = post(self.port, "/v1/chat/completions", chat_body(), headers={"X-Request-Id": "shape-1"})
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertEqual(body["id"], "chatcmpl-shape-1")
        self.assertEqual(body["object"], "chat.completion")
        self.assertEqual(body["model"], "sim-chat")
        choice = body["choices"][0]
        self.assertEqual(choice["message"]["role"], "assistant")
        self.assertEqual(choice["finish_reason"], "stop")
        self.assertIsNone(choice["stop_reason"])
        for key in ("refusal", "annotations", "audio", "function_call", "reasoning_content"):
            self.assertIn(key, choice["message"])
        text = choice["message"]["content"]
        usage = body["usage"]
        self.assertEqual(usage["completion_tokens"], count_tokens(text))
        self.assertTrue(8 <= usage["completion_tokens"] <= 64)
        self.assertEqual(usage["prompt_tokens"], 3 + 4 + count_tokens("Hello, world!"))
        self.assertEqual(usage["total_tokens"], usage["prompt_tokens"] + usage["completion_tokens"])
        record = harness.request(self.port, "GET", "/sim/requests/shape-1").json()
        self.assertEqual(record, {"request_id": "shape-1", "prompt_tokens": usage["prompt_tokens"],
                                  "completion_tokens": usage["completion_tokens"], "status": 200,
                                  "finished": True, "aborted": False})

    def test_random_id_without_header(self):
        a = post(self.port, "/v1/chat/completions", chat_body()).json()["id"]
        b = post(self.port, "/v1/chat/completions", chat_body()).json()["id"]
        self.assertTrue(a.startswith("chatcmpl-") and b.startswith("chatcmpl-"))
        self.assertNotEqual(a, b)

    def test_determinism_and_seed(self):
        texts = [post(self.port, "/v1/chat/completions", chat_body("same prompt")).json()
                 ["choices"][0]["message"]["content"] for _ in range(2)]
        self.assertEqual(texts[0], texts[1])
        other = post(self.port, "/v1/chat/completions", chat_body("same prompt", seed=7)).json()
        self.assertNotEqual(other["choices"][0]["message"]["content"], texts[0])

    def test_max_tokens_gives_length(self):
        body = post(self.port, "/v1/chat/completions", chat_body(max_tokens=3)).json()
        self.assertEqual(body["choices"][0]["finish_reason"], "length")
        self.assertEqual(body["usage"]["completion_tokens"], 3)
        self.assertEqual(count_tokens(body["choices"][0]["message"]["content"]), 3)
        body = post(self.port, "/v1/chat/completions", chat_body(max_completion_tokens=2, max_tokens=9)).json()
        self.assertEqual(body["usage"]["completion_tokens"], 2)

    def test_stop_string(self):
        natural = post(self.port, "/v1/chat/completions", chat_body("stop test")).json()
        text = natural["choices"][0]["message"]["content"]
        words = text.split()
        stop = words[3]
        body = post(self.port, "/v1/chat/completions", chat_body("stop test", stop=["zzz", stop])).json()
        choice = body["choices"][0]
        self.assertEqual(choice["message"]["content"], text[:text.index(stop)])
        self.assertEqual(choice["finish_reason"], "stop")
        self.assertEqual(choice["stop_reason"], stop)
        self.assertEqual(body["usage"]["completion_tokens"], count_tokens(choice["message"]["content"]))
        self.assertLess(body["usage"]["completion_tokens"], natural["usage"]["completion_tokens"])

    def test_chat_stream_without_usage(self):
        events = stream(self.port, "/v1/chat/completions", chat_body(stream=True))
        self.assertEqual(events[-1][1], "[DONE]")
        chunks = json_events(events)
        self.assertEqual(chunks[0]["choices"][0]["delta"], {"role": "assistant", "content": ""})
        self.assertEqual(chunks[-1]["choices"][0]["delta"], {})
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "stop")
        self.assertIn("stop_reason", chunks[-1]["choices"][0])
        for c in chunks:
            self.assertNotIn("usage", c)
            self.assertEqual(c["object"], "chat.completion.chunk")
            self.assertEqual(c["id"], chunks[0]["id"])
        text = "".join(c["choices"][0]["delta"]["content"] for c in chunks[1:-1])
        plain = post(self.port, "/v1/chat/completions", chat_body()).json()
        self.assertEqual(text, plain["choices"][0]["message"]["content"])

    def test_chat_stream_include_usage(self):
        events = stream(self.port, "/v1/chat/completions",
                        chat_body(stream=True, stream_options={"include_usage": True}))
        chunks = json_events(events)
        usage_chunk = chunks[-1]
        self.assertEqual(usage_chunk["choices"], [])
        content_chunks = [c for c in chunks[:-1] if c["choices"][0]["delta"].get("content")]
        self.assertEqual(usage_chunk["usage"]["completion_tokens"], len(content_chunks))
        self.assertEqual(usage_chunk["usage"]["prompt_tokens"], 3 + 4 + count_tokens("Hello, world!"))
        for c in chunks[:-1]:
            self.assertNotIn("usage", c)

    def test_chat_stream_continuous_usage(self):
        events = stream(self.port, "/v1/chat/completions", chat_body(
            stream=True, max_tokens=5, stream_options={"include_usage": True, "continuous_usage_stats": True}))
        chunks = json_events(events)
        self.assertEqual(chunks[0]["usage"]["completion_tokens"], 0)
        running = [c["usage"]["completion_tokens"] for c in chunks[1:6]]
        self.assertEqual(running, [1, 2, 3, 4, 5])
        self.assertEqual(chunks[6]["choices"][0]["finish_reason"], "length")
        self.assertEqual(chunks[-1]["choices"], [])
        self.assertEqual(chunks[-1]["usage"]["completion_tokens"], 5)

    def test_completion_and_stream_shape(self):
        plain = post(self.port, "/v1/completions", {"model": "sim-base", "prompt": "Once upon", "max_tokens": 6})
        self.assertEqual(plain.status, 200, plain.body)
        body = plain.json()
        self.assertEqual(body["object"], "text_completion")
        self.assertEqual(body["usage"]["prompt_tokens"], 2)
        events = stream(self.port, "/v1/completions", {"model": "sim-base", "prompt": "Once upon", "max_tokens": 6,
                                                       "stream": True, "stream_options": {"include_usage": True}})
        chunks = json_events(events)
        for c in chunks[:-1]:
            self.assertEqual(set(c["choices"][0]), {"index", "text", "logprobs", "finish_reason", "stop_reason"})
            self.assertIsNone(c["usage"])
        self.assertEqual("".join(c["choices"][0]["text"] for c in chunks[:-1]), body["choices"][0]["text"])
        self.assertEqual(chunks[-2]["choices"][0]["finish_reason"], body["choices"][0]["finish_reason"])
        self.assertEqual(chunks[-1]["usage"]["completion_tokens"], body["usage"]["completion_tokens"])
        # Token-id prompts and batches: one choice per prompt, usage summed.
        batch = post(self.port, "/v1/completions", {"model": "sim-base", "prompt": [[1, 2, 3], [4, 5]]}).json()
        self.assertEqual([c["index"] for c in batch["choices"]], [0, 1])
        self.assertEqual(batch["usage"]["prompt_tokens"], 5)
        self.assertEqual(batch["usage"]["completion_tokens"],
                         sum(count_tokens(c["text"]) for c in batch["choices"]))

    def test_embeddings_float_and_base64(self):
        r = post(self.port, "/v1/embeddings", {"model": "sim-embed", "input": ["a b", "c"]})
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertEqual(body["usage"]["prompt_tokens"], 3)
        vectors = [d["embedding"] for d in body["data"]]
        for v in vectors:
            self.assertEqual(len(v), 64)
            self.assertAlmostEqual(math.sqrt(sum(x * x for x in v)), 1.0, places=5)
        b64 = post(self.port, "/v1/embeddings", {"model": "sim-embed", "input": ["a b", "c"],
                                                 "encoding_format": "base64"}).json()
        raw = base64.b64decode(b64["data"][0]["embedding"])
        decoded = struct.unpack("<64f", raw)
        self.assertAlmostEqual(math.sqrt(sum(x * x for x in decoded)), 1.0, places=5)
        for a, b in zip(decoded, vectors[0]):
            self.assertAlmostEqual(a, b, places=6)

    def test_models_health_version(self):
        models = harness.request(self.port, "GET", "/v1/models").json()
        self.assertEqual([m["id"] for m in models["data"]], ["sim-chat", "sim-base", "sim-embed"])
        self.assertEqual(models["data"][0]["max_model_len"], 256)
        self.assertEqual(models["data"][0]["owned_by"], "vllm")
        health = harness.request(self.port, "GET", "/health")
        self.assertEqual((health.status, health.body), (200, b""))
        self.assertIn("version", harness.request(self.port, "GET", "/version").json())

    def test_metrics_move(self):
        def scrape():
            return harness.request(self.port, "GET", "/metrics").body.decode()
        before = scrape()
        for name in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                     "vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:request_success_total",
                     "vllm:time_to_first_token_seconds_bucket", "vllm:time_to_first_token_seconds_count",
                     "vllm:e2e_request_latency_seconds_sum"):
            self.assertIsNotNone(metric_value(before, name, model_name="sim-chat"), name)
        body = post(self.port, "/v1/chat/completions", chat_body(max_tokens=4)).json()
        after = scrape()
        self.assertEqual(metric_value(after, "vllm:generation_tokens_total", model_name="sim-chat") -
                         metric_value(before, "vllm:generation_tokens_total", model_name="sim-chat"), 4)
        self.assertEqual(metric_value(after, "vllm:prompt_tokens_total", model_name="sim-chat") -
                         metric_value(before, "vllm:prompt_tokens_total", model_name="sim-chat"),
                         body["usage"]["prompt_tokens"])
        self.assertEqual(metric_value(after, "vllm:request_success_total", model_name="sim-chat",
                                      finished_reason="length") -
                         metric_value(before, "vllm:request_success_total", model_name="sim-chat",
                                      finished_reason="length"), 1)
        self.assertEqual(metric_value(after, "vllm:e2e_request_latency_seconds_count", model_name="sim-chat") -
                         metric_value(before, "vllm:e2e_request_latency_seconds_count", model_name="sim-chat"), 1)

    def assert_error(self, response, status, err_type, message_part=""):
        self.assertEqual(response.status, status, response.body)
        error = response.json()["error"]
        self.assertEqual(error["type"], err_type)
        self.assertEqual(error["code"], status)
        self.assertIsNone(error["param"])
        self.assertIn(message_part, error["message"])

    def test_errors(self):
        p = self.port
        self.assert_error(post(p, "/v1/chat/completions", chat_body(model="nope")), 404, "NotFoundError",
                          "The model `nope` does not exist.")
        self.assert_error(post(p, "/v1/chat/completions", {"model": "sim-chat"}), 400, "BadRequestError", "messages")
        self.assert_error(post(p, "/v1/completions", {"model": "sim-chat"}), 400, "BadRequestError", "prompt")
        self.assert_error(post(p, "/v1/embeddings", {"model": "sim-embed"}), 400, "BadRequestError", "input")
        self.assert_error(post(p, "/v1/chat/completions", chat_body(stream_options={"include_usage": True})),
                          400, "BadRequestError", "stream=True")
        self.assert_error(post(p, "/v1/chat/completions", chat_body(max_tokens=0)), 400, "BadRequestError",
                          "max_tokens")
        self.assert_error(post(p, "/v1/chat/completions", chat_body(max_tokens=250)), 400, "BadRequestError",
                          "maximum context length is 256 tokens. However, you requested 261 tokens (11 in the "
                          "messages, 250 in the completion)")
        self.assert_error(post(p, "/v1/chat/completions", "{not json"), 400, "BadRequestError")
        self.assert_error(post(p, "/v1/chat/completions", chat_body(model="sim-embed")), 400, "BadRequestError",
                          "does not support Chat Completions API")
        self.assert_error(harness.request(p, "POST", "/v1/chat/completions", body=json.dumps(chat_body()),
                                          headers={"Content-Type": "text/plain"}),
                          415, "Unsupported Media Type", "Only 'application/json' is allowed")
        self.assert_error(harness.request(p, "GET", "/v1/chat/completions"), 405, "Method Not Allowed")
        self.assert_error(harness.request(p, "GET", "/nowhere"), 404, "Not Found")
        self.assertEqual(harness.request(p, "GET", "/sim/requests/never-seen").status, 404)

    def test_keep_alive_reuses_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for _ in range(3):
                conn.request("POST", "/v1/completions", body=json.dumps({"model": "sim-base", "prompt": "x"}),
                             headers=JSON_HEADERS)
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200)
                resp.read()
        finally:
            conn.close()


class DedicatedServerTest(unittest.TestCase):
    """Tests that need their own flags."""

    def setUp(self):
        self.procs = harness.Processes()
        self.addCleanup(self.procs.stop_all)

    def start(self, *flags, name="sim"):
        proc = self.procs.start(BIN, ["--listen", "127.0.0.1:0", "--model", "sim-chat", *flags], name)
        return proc, proc.ready["port"]

    def stats(self, port):
        return harness.request(port, "GET", "/sim/stats").json()

    def test_ttft_and_inter_token_delays(self):
        _, port = self.start("--ttft-ms", "150", "--inter-token-ms", "50")
        t0 = time.monotonic()
        events = stream(port, "/v1/chat/completions", chat_body(stream=True, max_tokens=10))
        content_times = [t for (t, p) in events if p != "[DONE]" and
                         json.loads(p)["choices"][0]["delta"].get("content")]
        self.assertEqual(len(content_times), 10)
        self.assertGreaterEqual(content_times[0] - t0, 0.12)
        self.assertGreaterEqual(content_times[-1] - content_times[0], 0.40)
        # Chunks arrive while generation goes on, not in one burst at the end.
        self.assertGreaterEqual(content_times[5] - content_times[0], 0.2)

    def test_client_disconnect_aborts(self):
        _, port = self.start("--inter-token-ms", "30")
        natural = post(port, "/v1/chat/completions", chat_body("leave early")).json()["usage"]["completion_tokens"]
        stream(port, "/v1/chat/completions", chat_body("leave early", stream=True),
               headers={"X-Request-Id": "leaver"}, stop_after_content=3)
        harness.wait_for(lambda: self.stats(port)["requests_aborted"] == 1, timeout=5, what="abort counted")
        record = harness.request(port, "GET", "/sim/requests/leaver").json()
        self.assertTrue(record["finished"])
        self.assertTrue(record["aborted"])
        self.assertGreaterEqual(record["completion_tokens"], 3)
        self.assertLess(record["completion_tokens"], natural)
        self.assertEqual(self.stats(port)["requests_active"], 0)
        metrics = harness.request(port, "GET", "/metrics").body.decode()
        self.assertEqual(metric_value(metrics, "vllm:request_success_total", finished_reason="abort"), 1)

    def test_error_rate_one(self):
        _, port = self.start("--error-rate", "1")
        r = post(port, "/v1/chat/completions", chat_body())
        self.assertEqual(r.status, 500)
        self.assertEqual(r.json()["error"]["code"], 500)
        self.assertEqual(self.stats(port)["requests_failed"], 1)
        self.assertEqual(harness.request(port, "GET", "/health").status, 200)

    def test_die_after_tokens(self):
        proc, port = self.start("--die-after-tokens", "5")
        try:
            stream(port, "/v1/chat/completions", chat_body(stream=True, max_tokens=20))
        except (ConnectionError, http.client.HTTPException):
            pass
        self.assertEqual(proc.wait(timeout=5), 1)

    def test_refuse_connections(self):
        _, port = self.start("--refuse-connections")
        with self.assertRaises((ConnectionError, http.client.HTTPException, socket.timeout)):
            harness.request(port, "GET", "/health", timeout=5)

    def test_max_concurrency_queues(self):
        _, port = self.start("--max-concurrency", "1", "--ttft-ms", "400")
        results = []
        threads = [threading.Thread(target=lambda: results.append(
            post(port, "/v1/chat/completions", chat_body(max_tokens=2)).status)) for _ in range(2)]
        for t in threads:
            t.start()

        def queued():
            text = harness.request(port, "GET", "/metrics").body.decode()
            return (metric_value(text, "vllm:num_requests_waiting") == 1 and
                    metric_value(text, "vllm:num_requests_running") == 1 and
                    metric_value(text, "vllm:kv_cache_usage_perc") == 1)
        harness.wait_for(queued, timeout=5, what="one running, one waiting")
        for t in threads:
            t.join(10)
        self.assertEqual(results, [200, 200])
        text = harness.request(port, "GET", "/metrics").body.decode()
        self.assertEqual(metric_value(text, "vllm:num_requests_waiting"), 0)

    def test_sim_config_changes_behaviour(self):
        _, port = self.start()
        r = post(port, "/sim/config", {"ttft_ms": 300, "max_concurrency": 4})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json(), {"ttft_ms": 300, "inter_token_ms": 0, "error_rate": 0.0, "hang": False,
                                    "max_concurrency": 4})
        t0 = time.monotonic()
        self.assertEqual(post(port, "/v1/chat/completions", chat_body()).status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.25)
        self.assertEqual(post(port, "/sim/config", {"nonsense": 1}).status, 400)
        post(port, "/sim/config", {"ttft_ms": 0, "error_rate": 1.0})
        self.assertEqual(post(port, "/v1/chat/completions", chat_body()).status, 500)
        post(port, "/sim/config", {"error_rate": 0, "hang": True})
        with self.assertRaises(socket.timeout):
            post(port, "/v1/chat/completions", chat_body(), timeout=0.5)
        harness.wait_for(lambda: self.stats(port)["requests_aborted"] == 1, timeout=5, what="hung request dropped")
        post(port, "/sim/config", {"hang": False})
        self.assertEqual(post(port, "/v1/chat/completions", chat_body()).status, 200)

    def test_many_concurrent_streams_and_sigterm(self):
        proc, port = self.start("--ttft-ms", "300", "--inter-token-ms", "5")
        count, done, errors = 500, [], []

        def one(i):
            try:
                events = stream(port, "/v1/chat/completions", chat_body(f"stream {i}", stream=True, max_tokens=8))
                done.append(events[-1][1] == "[DONE]")
            except Exception as e:  # noqa: BLE001 - collected and reported below
                errors.append(repr(e))
        threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])
        self.assertEqual(done, [True] * count)
        self.assertEqual(self.stats(port)["completion_tokens_total"], 8 * count)
        proc.signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=5), 0)


if __name__ == "__main__":
    unittest.main()
