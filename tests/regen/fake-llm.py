#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A local stand-in for an OpenAI-compatible chat-completions endpoint (and a
webhook receiver) for tests/e2e/test-regen-llm.c.

    fake-llm.py LOG SCRIPT

Listens on 127.0.0.1, port 0, prints the port (one line) on stdout. Every
request is appended to LOG as one JSON line: {"path", "authorization",
"body"} (body parsed as JSON when it is, else the text). The n-th POST is
answered by the n-th entry of SCRIPT (a JSON array; past its end, the last;
empty: 200 "{}"):
  {"content": TEXT, "tokens": N}  a chat completion whose answer is TEXT
  {"status": CODE}                that HTTP status, an error body
  {"raw": TEXT}                   200 with TEXT as the body (garbage JSON)
  {"hang": true}                  never answers (the client's timeout ends it)
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG, SCRIPT = sys.argv[1], sys.argv[2]
with open(SCRIPT) as f:
    ENTRIES = json.load(f)
LOCK = threading.Lock()
COUNT = [0]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode("utf-8", "replace")
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        with LOCK:
            i = COUNT[0]
            COUNT[0] += 1
            with open(LOG, "a") as f:
                f.write(json.dumps({"path": self.path, "authorization": self.headers.get("Authorization"),
                                    "body": body}) + "\n")
        e = ENTRIES[min(i, len(ENTRIES) - 1)] if ENTRIES else {}
        if e.get("hang"):
            threading.Event().wait()
        status, out = 200, b"{}"
        if "content" in e:
            out = json.dumps({"id": "x", "object": "chat.completion", "model": "fake",
                              "choices": [{"index": 0, "message": {"role": "assistant", "content": e["content"]},
                                           "finish_reason": "stop"}],
                              "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                        "total_tokens": e.get("tokens", 42)}}).encode()
        elif "status" in e:
            status, out = e["status"], b'{"error": {"message": "scripted failure"}}'
        elif "raw" in e:
            out = e["raw"].encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
