"""The client API end to end: real cic-control, real cic-node-sim nodes, plain HTTP."""
import base64
import json
import socket
import struct
import unittest

import harness
from gateway_fixture import CHAT, CHAT2, EMBED, ORPHAN, GatewayEnv, StreamReader, chat


class GatewayApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = GatewayEnv()
        cls.env.start_node("llama-a", CHAT)
        cls.env.start_node("llama-b", CHAT)
        cls.env.start_node("mistral", CHAT2)
        cls.env.start_node("embed", EMBED, "embedding")
        cls.env.start_gateway(server_extra="  limits: {max_body_bytes: 65536, max_header_bytes: 8192}\n")

    @classmethod
    def tearDownClass(cls):
        cls.env.stop()

    def assert_error(self, r, status, code=None, param=None, err_type=None):
        self.assertEqual(r.status, status, r.body)
        body = r.json()
        self.assertEqual(set(body), {"error"})
        self.assertEqual(set(body["error"]), {"message", "type", "param", "code"})
        self.assertTrue(body["error"]["message"])
        if code is not None:
            self.assertEqual(body["error"]["code"], code)
        if param is not None:
            self.assertEqual(body["error"]["param"], param)
        if err_type is not None:
            self.assertEqual(body["error"]["type"], err_type)
        self.assertTrue(r.header("x-request-id"))
        self.assertEqual(r.header("content-type"), "application/json")

    # -- success paths ------------------------------------------------------------------------
    def test_chat_completion_matches_node_and_is_metered(self):
        r = self.env.post("/v1/chat/completions", chat(max_tokens=12))
        self.assertEqual(r.status, 200, r.body)
        rid = r.header("x-request-id")
        self.assertTrue(rid.startswith("req_"))
        body = r.json()
        self.assertEqual(body["object"], "chat.completion")
        self.assertEqual(body["model"], CHAT)
        usage = body["usage"]
        self.assertEqual(usage["total_tokens"], usage["prompt_tokens"] + usage["completion_tokens"])
        # The node saw the same request id and counted the same tokens.
        node = next(n for n in ("llama-a", "llama-b") if self.env.sim_request(n, rid))
        sim = self.env.sim_request(node, rid)
        self.assertEqual(sim["completion_tokens"], usage["completion_tokens"])
        row = self.env.wait_usage(rid)[0]
        self.assertEqual((row["prompt_tokens"], row["completion_tokens"]), (usage["prompt_tokens"], usage["completion_tokens"]))
        self.assertEqual(row["model"], CHAT)
        self.assertEqual(row["node_id"], node)
        self.assertEqual(row["status"], 200)
        self.assertEqual(row["streamed"], 0)

    def test_request_id_is_always_ours_and_client_id_is_echoed_apart(self):
        # Two clients choosing the same id must not share a usage record.
        a = self.env.post("/v1/chat/completions", chat(max_tokens=1), headers={"X-Request-Id": "my-trace-123"})
        b = self.env.post("/v1/chat/completions", chat(max_tokens=1), headers={"X-Request-Id": "my-trace-123"})
        self.assertEqual(a.header("x-client-request-id"), "my-trace-123")
        self.assertTrue(a.header("x-request-id").startswith("req_"))
        self.assertNotEqual(a.header("x-request-id"), b.header("x-request-id"))
        self.assertEqual(len(self.env.wait_usage(a.header("x-request-id"))), 1)
        self.assertEqual(len(self.env.wait_usage(b.header("x-request-id"))), 1)
        bad = self.env.post("/v1/chat/completions", chat(max_tokens=1), headers={"X-Request-Id": "bad id with spaces"})
        self.assertIsNone(bad.header("x-client-request-id"))

    def test_completions_and_embeddings(self):
        r = self.env.post("/v1/completions", {"model": CHAT, "prompt": "Once upon a time", "max_tokens": 5})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["object"], "text_completion")
        self.assertEqual(r.json()["usage"]["completion_tokens"], 5)
        f = self.env.post("/v1/embeddings", {"model": EMBED, "input": ["a", "b"]})
        self.assertEqual(f.status, 200, f.body)
        vectors = [d["embedding"] for d in f.json()["data"]]
        self.assertEqual(len(vectors), 2)
        b = self.env.post("/v1/embeddings", {"model": EMBED, "input": ["a", "b"], "encoding_format": "base64"})
        decoded = base64.b64decode(b.json()["data"][0]["embedding"])
        floats = struct.unpack(f"<{len(decoded) // 4}f", decoded)
        self.assertEqual(len(floats), len(vectors[0]))
        self.assertAlmostEqual(floats[0], vectors[0][0], places=5)

    def test_models_lists_enabled_models(self):
        r = self.env.get("/v1/models")
        self.assertEqual(r.status, 200)
        ids = sorted(m["id"] for m in r.json()["data"])
        self.assertEqual(ids, sorted([CHAT, CHAT2, EMBED, ORPHAN]))
        self.assertEqual(r.json()["object"], "list")
        one = self.env.get(f"/v1/models/{CHAT}")
        self.assertEqual(one.json()["id"], CHAT)
        self.assert_error(self.env.get("/v1/models/nope"), 404, "model_not_found")

    def test_scoped_path(self):
        r = self.env.post(f"/acme/dev/{CHAT}/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["model"], CHAT)
        self.assert_error(self.env.post(f"/other/dev/{CHAT}/v1/chat/completions", chat()), 403, "wrong_organization")
        self.assert_error(self.env.post(f"/acme/prod/{CHAT}/v1/chat/completions", chat()), 403, "wrong_environment")
        self.assert_error(self.env.post(f"/acme/dev/{CHAT}/v1/chat/completions", chat(model=CHAT2)), 400, param="model")
        models = self.env.get(f"/acme/dev/{CHAT}/v1/models")
        self.assertEqual(models.status, 200)

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.env.port, timeout=10)
        for _ in range(20):
            conn.request("POST", "/v1/chat/completions", body=json.dumps(chat(max_tokens=2)), headers=self.env.auth())
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            self.assertNotEqual((r.getheader("connection") or "").lower(), "close")
        conn.close()

    def test_expect_100_continue(self):
        # curl sends Expect: 100-continue for larger bodies; the gateway must not stall on it.
        body = json.dumps(chat(content="x" * 3000, max_tokens=2)).encode()
        with socket.create_connection(("127.0.0.1", self.env.port), timeout=10) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      + f"Authorization: Bearer {self.env.api_key}\r\nContent-Length: {len(body)}\r\n".encode()
                      + b"Expect: 100-continue\r\n\r\n")
            self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 100 Continue"))
            s.sendall(body)
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(4096)
            self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:100])

    # -- every error a client can see ---------------------------------------------------------
    def test_missing_and_bad_keys_are_401(self):
        r = harness.request(self.env.port, "POST", "/v1/chat/completions", body=chat())
        self.assert_error(r, 401, "missing_api_key")
        for bad in ("sk_dev_short", self.env.api_key[:-1] + ("A" if self.env.api_key[-1] != "A" else "B"),
                    "Basic abc", self.env.api_key.upper()):
            value = bad if bad.startswith("Basic") else f"Bearer {bad}"
            r = harness.request(self.env.port, "POST", "/v1/chat/completions", body=chat(),
                                headers={"Authorization": value, "Content-Type": "application/json"})
            self.assert_error(r, 401, "invalid_api_key", err_type="invalid_request_error")

    def test_well_formed_unknown_key_is_401(self):
        import random, string
        # A key with a valid checksum that was never issued: reaches the store, answers 401.
        alphabet = string.digits + string.ascii_uppercase + string.ascii_lowercase
        body = "".join(random.choice(alphabet) for _ in range(40))
        head = f"sk_dev_{body}"
        import zlib
        crc = zlib.crc32(head.encode())
        check = ""
        for _ in range(6):
            check = alphabet[crc % 62] + check
            crc //= 62
        r = harness.request(self.env.port, "GET", "/v1/models", headers={"Authorization": f"Bearer {head}{check}"})
        self.assert_error(r, 401, "invalid_api_key")

    def test_unknown_model_is_404(self):
        self.assert_error(self.env.post("/v1/chat/completions", chat(model="gpt-17")), 404, "model_not_found", "model")

    def test_malformed_json_and_missing_fields_are_400(self):
        r = harness.request(self.env.port, "POST", "/v1/chat/completions", body=b'{"model": ', headers=self.env.auth())
        self.assert_error(r, 400, "invalid_json")
        r = harness.request(self.env.port, "POST", "/v1/chat/completions", body=b'[1,2]', headers=self.env.auth())
        self.assert_error(r, 400, "invalid_json")
        self.assert_error(self.env.post("/v1/chat/completions", {"model": CHAT}), 400, param="messages")
        self.assert_error(self.env.post("/v1/chat/completions", {"messages": []}), 400, param="model")
        self.assert_error(self.env.post("/v1/chat/completions", chat(max_tokens=0)), 400, param="max_tokens")
        self.assert_error(self.env.post("/v1/chat/completions", chat(stream="yes")), 400, param="stream")
        self.assert_error(self.env.post("/v1/chat/completions", chat(stream_options={"include_usage": True})), 400,
                          param="stream_options")
        self.assert_error(self.env.post("/v1/chat/completions", chat(temperature=7)), 400, param="temperature")
        self.assert_error(self.env.post("/v1/completions", {"model": CHAT}), 400, param="prompt")
        self.assert_error(self.env.post("/v1/embeddings", {"model": EMBED}), 400, param="input")
        self.assert_error(self.env.post("/v1/embeddings", {"model": CHAT, "input": "x"}), 400, param="model")
        self.assert_error(self.env.post("/v1/chat/completions", chat(model=EMBED)), 400, param="model")
        r = harness.request(self.env.port, "POST", "/v1/chat/completions", body="x=1",
                            headers={**self.env.auth(), "Content-Type": "application/x-www-form-urlencoded"})
        self.assert_error(r, 415)

    def test_node_error_passes_through_as_openai_error(self):
        # The node's own 400 (context length) reaches the client in OpenAI's shape.
        r = self.env.post("/v1/chat/completions", chat(max_tokens=9000))
        self.assert_error(r, 400)
        self.assertIn("context length", r.json()["error"]["message"])

    def test_body_too_large_is_413(self):
        r = self.env.post("/v1/chat/completions", chat(content="x" * 70000))
        self.assert_error(r, 413, "request_too_large")

    def test_headers_too_large_is_431(self):
        r = self.env.post("/v1/chat/completions", chat(), headers={"X-Big": "y" * 9000})
        self.assertEqual(r.status, 431)
        self.assertEqual(r.json()["error"]["code"], "request_header_fields_too_large")

    def test_unknown_path_and_method(self):
        self.assert_error(self.env.get("/v2/whatever"), 404)
        self.assert_error(harness.request(self.env.port, "GET", "/v1/chat/completions", headers=self.env.auth()), 405)

    def test_model_without_node_is_503_with_retry_after(self):
        r = self.env.post("/v1/chat/completions", chat(model=ORPHAN))
        self.assert_error(r, 503, "no_capacity")
        self.assertEqual(r.header("retry-after"), "5")

    def test_health_and_metrics(self):
        self.assertEqual(harness.request(self.env.port, "GET", "/healthz").status, 200)
        self.assertEqual(harness.request(self.env.port, "GET", "/readyz").status, 200)
        self.assertEqual(harness.request(self.env.admin_port, "GET", "/readyz").status, 200)
        self.env.post("/v1/chat/completions", chat(max_tokens=1))
        metrics = harness.request(self.env.admin_port, "GET", "/metrics").body.decode()
        self.assertIn('cic_http_requests_total{route="chat.completions",status="200"}', metrics)
        self.assertIn("cic_upstream_requests_total", metrics)

    def test_garbage_input_never_kills_the_daemon(self):
        payloads = [b"GARBAGE\r\n\r\n", b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", b"\x00\xff" * 100,
                    b"POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]
        for p in payloads:
            with socket.create_connection(("127.0.0.1", self.env.port), timeout=5) as s:
                s.sendall(p)
                try:
                    s.recv(4096)
                except OSError:
                    pass
        self.assertEqual(self.env.post("/v1/chat/completions", chat(max_tokens=1)).status, 200)


class GatewayStreamingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = GatewayEnv()
        cls.env.start_node("slow", CHAT, "chat", "--ttft-ms", "50", "--inter-token-ms", "60")
        cls.env.start_gateway()

    @classmethod
    def tearDownClass(cls):
        cls.env.stop()

    def stream(self, body, headers=None):
        return StreamReader(self.env.port, "/v1/chat/completions", body, self.env.auth(headers))

    def test_chunks_arrive_while_node_generates(self):
        s = self.stream(chat(stream=True, max_tokens=12, ignore_eos=True))
        self.assertEqual(s.status, 200)
        self.assertTrue(s.header("content-type").startswith("text/event-stream"))
        self.assertTrue(s.header("x-request-id"))
        events = s.all_events()
        s.close()
        content = [(t, json.loads(p)) for t, p in events if p != "[DONE]"]
        self.assertEqual(events[-1][1], "[DONE]")
        tokens = [(t, c) for t, c in content if c["choices"] and c["choices"][0]["delta"].get("content")]
        self.assertEqual(len(tokens), 12)
        # 12 tokens 60 ms apart: the first must reach us long before the last is generated.
        self.assertGreater(tokens[-1][0] - tokens[0][0], 0.4)
        # No usage anywhere: the client did not ask for it, though the gateway asked the node.
        self.assertTrue(all("usage" not in c for _, c in content))

    def test_usage_chunk_only_when_asked(self):
        s = self.stream(chat(stream=True, max_tokens=4, stream_options={"include_usage": True}))
        events = [json.loads(p) for _, p in s.all_events() if p != "[DONE]"]
        s.close()
        with_usage = [e for e in events if e.get("usage")]
        self.assertEqual(len(with_usage), 1)
        self.assertEqual(with_usage[0]["choices"], [])
        self.assertEqual(with_usage[0]["usage"]["completion_tokens"], 4)
        s = self.stream(chat(stream=True, max_tokens=4,
                             stream_options={"include_usage": True, "continuous_usage_stats": True}))
        events = [json.loads(p) for _, p in s.all_events() if p != "[DONE]"]
        s.close()
        self.assertTrue(all("usage" in e for e in events))

    def test_stream_is_metered_from_node_usage(self):
        s = self.stream(chat(stream=True, max_tokens=6, ignore_eos=True))
        rid = s.header("x-request-id")
        s.all_events()
        s.close()
        row = self.env.wait_usage(rid)[0]
        sim = self.env.sim_request("slow", rid)
        self.assertEqual(row["completion_tokens"], 6)
        self.assertEqual(row["completion_tokens"], sim["completion_tokens"])
        self.assertEqual(row["prompt_tokens"], sim["prompt_tokens"])
        self.assertEqual((row["streamed"], row["cancelled"]), (1, 0))

    def test_client_disconnect_cancels_upstream_stream(self):
        s = self.stream(chat(stream=True, max_tokens=60, ignore_eos=True))
        rid = s.header("x-request-id")
        seen = 0
        while seen < 3:
            _, payload = s.next_event()
            if '"content":" ' in payload or '"content": " ' in payload:
                seen += 1
        s.close()
        sim = harness.wait_for(lambda: (r := self.env.sim_request("slow", rid)) and r["aborted"] and r,
                               timeout=5, what="node to abort the request")
        self.assertLess(sim["completion_tokens"], 60)
        row = self.env.wait_usage(rid)[0]
        self.assertEqual(row["cancelled"], 1)
        # Billed for what the node generated before the cut (continuous usage), give or take the
        # token that was in flight when the node noticed.
        self.assertLessEqual(abs(row["completion_tokens"] - sim["completion_tokens"]), 1)

    def test_client_disconnect_cancels_non_streaming_request(self):
        import http.client
        port = self.env.node_port("slow")
        stats = lambda: harness.request(port, "GET", "/sim/stats").json()
        aborted_before = stats()["requests_aborted"]
        conn = http.client.HTTPConnection("127.0.0.1", self.env.port, timeout=10)
        conn.request("POST", "/v1/chat/completions", body=json.dumps(chat(max_tokens=50, ignore_eos=True)),
                     headers=self.env.auth())
        harness.wait_for(lambda: stats()["requests_active"] >= 1, timeout=5, what="the node to start the request")
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()
        harness.wait_for(lambda: stats()["requests_aborted"] == aborted_before + 1, timeout=5,
                         what="node to abort the request")
        self.assertEqual(stats()["requests_active"], 0)


if __name__ == "__main__":
    unittest.main()
