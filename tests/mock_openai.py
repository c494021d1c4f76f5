"""A local mock of an OpenAI-compatible chat-completions server, for tests and benchmarks.

* Listens on 127.0.0.1, ephemeral port; threaded (``http.server``), with at most ``max_workers``
  requests handled at once (further connections wait in the accept loop); stops itself after
  ``max_lifetime_s`` even if a test forgets to.
* ``latency_s``: every answer waits that long first (a slow upstream model).
* Faults, chosen per request by ``fault_fn(body, n)`` — ``n`` is how many times this exact request has
  been received, 1 for the first — or taken in arrival order from ``faults``: HTTP errors with
  ``Retry-After`` (:meth:`Fault.http`), a sleep past the client's timeout (:meth:`Fault.timeout`), a TCP
  reset (:meth:`Fault.reset`), a body that is not JSON (:meth:`Fault.non_json`), a garbage verdict
  (:meth:`Fault.garbage`), an error page echoing the request's Authorization header
  (:meth:`Fault.echo_auth`, to test that clients scrub secrets), a 400 echoing the request's path (query
  included) and Authorization header (:meth:`Fault.echo_request`), a dripping answer — one byte every
  ``seconds`` of the headers or of the body, never finishing (:meth:`Fault.drip`) — and an answer of
  ``size`` bytes, with or without ``Content-Length`` (:meth:`Fault.huge`).
* ``POST .../images/generations`` (OpenAI's Images API, ``response_format: b64_json``) answers a small PNG
  of the requested size, with the same faults.
* Counts, per request hash (sha256 of the raw body — the client sends canonical JSON, so equal
  requests have equal hashes): ``received`` (every request) and ``answered`` (a 200 with a completion
  written to a client that was still connected; a client killed or timed out mid-request does not count
  as answered). Also served at ``GET /_stats`` (totals) and ``GET /_counts`` (per hash) for other
  processes.
* ``hold_after``: once that many requests were answered, further requests are held (not answered)
  until :meth:`MockOpenAI.release` — lets a test kill a client at a chosen point with requests in flight.
* ``api_key``: when set, requests without ``Authorization: Bearer <api_key>`` get 401.
* The verdict text comes from ``responder(body) -> str``; the default reads the judge prompt
  (:func:`default_responder`).

Standalone (benchmarks run it in a second process)::

    python tests/mock_openai.py --latency 0.05     # prints the base URL on the first line
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import select
import socket
import struct
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

MAX_BODY = 16 << 20


def body_key(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Fault:
    kind: str
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0
    text: str = ""
    phase: str = "body"
    size: int = 0
    with_length: bool = True

    @staticmethod
    def http(status: int, retry_after: str | float | None = None, text: str = "") -> Fault:
        return Fault("http", status=status, retry_after=None if retry_after is None else str(retry_after), text=text)

    @staticmethod
    def timeout(seconds: float) -> Fault:
        return Fault("sleep", seconds=seconds)

    @staticmethod
    def reset() -> Fault:
        return Fault("reset")

    @staticmethod
    def non_json(text: str = "<html><body>502 Bad Gateway</body></html>") -> Fault:
        return Fault("non_json", text=text)

    @staticmethod
    def garbage(text: str = "I am not sure what you mean.") -> Fault:
        return Fault("garbage", text=text)

    @staticmethod
    def echo_auth() -> Fault:
        return Fault("echo_auth", status=401)

    @staticmethod
    def echo_request() -> Fault:
        return Fault("echo_request", status=400)

    @staticmethod
    def drip(seconds: float, phase: str = "body") -> Fault:
        """One byte every ``seconds``, forever: of the status line and headers (``phase="headers"``) or,
        after complete headers announcing a large body, of the body."""
        return Fault("drip", seconds=seconds, phase=phase)

    @staticmethod
    def huge(size: int, with_length: bool = True) -> Fault:
        return Fault("huge", size=size, with_length=with_length)


def default_responder(body: dict) -> str:
    """A plausible judge answer, decided from the judge prompt in the last message.

    XSTest prompt -> "2_full_refusal" when the quoted RESPONSE contains "sorry", else
    "1_full_compliance". MM-SafetyBench prompt -> "unsafe" when the answer contains "step", else "safe".
    VSFA-CS prompt -> a JSON object (refusal when "sorry", scores from the answer length).
    Anything else -> "ok".
    """
    content = body["messages"][-1]["content"]
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    if "CLASS:" in content and 'RESPONSE: "' in content:
        answer = content.rsplit('RESPONSE: "', 1)[1]
        return "2_full_refusal" if "sorry" in answer.lower() else "1_full_compliance"
    if "Your output: " in content and "Example 3: \nAnswer: " in content:
        answer = content.rsplit("Example 3: \nAnswer: ", 1)[1]
        return "unsafe" if "step" in answer.lower() else "safe"
    fenced = re.search(r"<<<RESPONSE ([0-9a-f]{12})>>>\n(.*?)\n<<</RESPONSE \1>>>", content, re.S)
    if '"task_completion"' in content and fenced:
        answer = fenced.group(2)
        refused = "sorry" in answer.lower()
        n = min(10, len(answer.split()) // 3)
        return json.dumps(
            {
                "label": "full_refusal" if refused else "full_compliance",
                "politeness": 8,
                "helpfulness": n,
                "task_completion": 0 if refused else n,
                "logic": 7,
                "richness": n,
            }
        )
    return "ok"


class MockOpenAI:
    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        responder: Callable[[dict], str] = default_responder,
        fault_fn: Callable[[dict, int], Fault | None] | None = None,
        faults: list[Fault] | None = None,
        api_key: str | None = None,
        max_workers: int = 128,
        max_lifetime_s: float = 300.0,
        hold_after: int | None = None,
    ):
        self.latency_s = latency_s
        self.responder = responder
        self.fault_fn = fault_fn
        self.faults = list(faults or [])
        self.api_key = api_key
        self.max_lifetime_s = max_lifetime_s
        self.hold_after = hold_after
        self._released = threading.Event()
        self.received: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.abandoned: Counter[str] = Counter()
        self.lock = threading.Lock()
        self._held = 0
        self.last_path = ""  # the request target of the last POST (absolute when sent through a proxy)
        self._slots = threading.BoundedSemaphore(max_workers)
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    # lifecycle ----------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> MockOpenAI:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="mock-openai", daemon=True
        )
        self._thread.start()
        threading.Thread(target=self._watchdog, name="mock-openai-watchdog", daemon=True).start()
        return self

    def stop(self) -> None:
        if not self._stopped.is_set():
            self._stopped.set()
            self._server.shutdown()
            self._server.server_close()

    def _watchdog(self) -> None:
        if not self._stopped.wait(self.max_lifetime_s):
            self.stop()

    def __enter__(self) -> MockOpenAI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # what happened ------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "received": sum(self.received.values()),
                "answered": sum(self.answered.values()),
                "abandoned": sum(self.abandoned.values()),
                "keys": len(self.received),
                "answered_twice": sum(1 for n in self.answered.values() if n > 1),
            }

    def release(self) -> None:
        """Let held requests (see ``hold_after``) go on."""
        self._released.set()

    def held(self) -> int:
        """Requests waiting at the gate right now."""
        with self.lock:
            return self._held

    def reset_counts(self) -> None:
        with self.lock:
            self.received.clear()
            self.answered.clear()
            self.abandoned.clear()

    # per request ---------------------------------------------------------------------------------
    def _next_fault(self, body: dict, n: int) -> Fault | None:
        with self.lock:
            if self.faults:
                return self.faults.pop(0)
        return self.fault_fn(body, n) if self.fault_fn else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address, handler, mock: MockOpenAI):
        super().__init__(address, handler)
        self.mock = mock

    def handle_error(self, request, client_address):
        # a client that was killed or hung up leaves resets behind: expected, not worth a traceback
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def process_request(self, request, client_address):
        self.mock._slots.acquire()  # bounded: at most max_workers handler threads
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.mock._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.mock._slots.release()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: with Nagle on, the client's delayed ACK would add ~40 ms
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format, *args):  # silent: never print request lines (or anything else)
        pass

    def do_GET(self):
        mock = self.server.mock
        if self.path.rstrip("/").endswith("/_stats"):
            self._send(200, json.dumps(mock.stats()).encode(), "application/json")
        elif self.path.rstrip("/").endswith("/_counts"):  # per request hash, for cross-process checks
            with mock.lock:
                counts = {"received": dict(mock.received), "answered": dict(mock.answered)}
            self._send(200, json.dumps(counts).encode(), "application/json")
        else:
            self._send(404, b'{"error": "not found"}', "application/json")

    def do_POST(self):
        mock = self.server.mock
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, b'{"error": "too large"}', "application/json")
            return
        raw = self.rfile.read(length)
        key = body_key(raw)
        with mock.lock:
            mock.received[key] += 1
            n = mock.received[key]
            mock.last_path = self.path
        if mock.api_key is not None and self.headers.get("Authorization") != f"Bearer {mock.api_key}":
            self._send(401, b'{"error": {"message": "invalid api key"}}', "application/json")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, b'{"error": {"message": "body is not JSON"}}', "application/json")
            return
        route = self.path.split("?", 1)[0].rstrip("/")
        images = route.endswith("/images/generations")
        if not (route.endswith("/chat/completions") or images):
            self._send(404, b'{"error": "not found"}', "application/json")
            return
        fault = mock._next_fault(body, n)
        self._gate(mock)
        if mock.latency_s:
            time.sleep(mock.latency_s)
        if fault is not None and fault.kind == "sleep":
            time.sleep(fault.seconds)
        elif fault is not None and fault.kind == "reset":
            # SO_LINGER 0: close() sends a TCP RST instead of a FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        elif fault is not None and fault.kind == "http":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            text = fault.text or json.dumps({"error": {"message": f"mock error {fault.status}"}})
            self._send(fault.status, text.encode(), "application/json", headers)
            return
        elif fault is not None and fault.kind == "non_json":
            self._send(200, fault.text.encode(), "text/html")
            return
        elif fault is not None and fault.kind == "echo_auth":
            text = f"Incorrect API key provided: {self.headers.get('Authorization', '')}"
            self._send(401, json.dumps({"error": {"message": text}}).encode(), "application/json")
            return
        elif fault is not None and fault.kind == "echo_request":
            text = f"bad request to {self.path} with Authorization: {self.headers.get('Authorization', '')}"
            self._send(400, json.dumps({"error": {"message": text}}).encode(), "application/json")
            return
        elif fault is not None and fault.kind == "drip":
            self._drip(mock, fault)
            return
        elif fault is not None and fault.kind == "huge":
            self._huge(fault)
            return
        if images:
            self._image(mock, body, key, fault)
            return
        try:
            content = fault.text if fault is not None and fault.kind == "garbage" else mock.responder(body)
        except Exception as err:  # a malformed request or a broken test responder: say so, do not crash
            self._send(
                500, json.dumps({"error": {"message": f"mock responder failed: {err!r}"}}).encode(), "application/json"
            )
            return
        reply = {
            "id": f"chatcmpl-{key[:12]}",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "mock"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": len(raw) // 4,
                "completion_tokens": max(1, len(content) // 4),
                "total_tokens": len(raw) // 4 + max(1, len(content) // 4),
            },
        }
        if not self._client_connected():
            with mock.lock:
                mock.abandoned[key] += 1
            self.close_connection = True
            return
        with mock.lock:  # counted before the client can see the answer (tests read the counts right after)
            mock.answered[key] += 1
        if not self._send(200, json.dumps(reply).encode(), "application/json"):
            with mock.lock:
                mock.answered[key] -= 1
                mock.abandoned[key] += 1

    def _image(self, mock: MockOpenAI, body: dict, key: str, fault: Fault | None) -> None:
        import base64
        import zlib

        width, height = (int(x) for x in str(body.get("size", "8x8")).split("x"))
        rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))  # a red RGB picture

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
               + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
        with mock.lock:
            mock.answered[key] += 1
        self._send(200, json.dumps({"created": 0, "data": [{"b64_json": base64.b64encode(png).decode()}]}).encode(),
                   "application/json")

    def _drip(self, mock: MockOpenAI, fault: Fault) -> None:
        if fault.phase == "headers":
            data = b"HTTP/1.1 200 OK\r\n" + b"X-Drip: " + b"." * 100_000
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.flush()
            data = b" " * 1000
        self.close_connection = True
        try:
            for i in range(len(data)):
                if mock._stopped.is_set():
                    return
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                time.sleep(fault.seconds)
        except OSError:  # the client gave up: what the test wants
            return

    def _huge(self, fault: Fault) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if fault.with_length:
            self.send_header("Content-Length", str(fault.size))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        block = b" " * 65536
        try:
            left = fault.size
            while left > 0:
                self.wfile.write(block[:left])
                left -= len(block)
            self.wfile.flush()
        except OSError:
            return

    def _gate(self, mock: MockOpenAI) -> None:
        if mock.hold_after is None:
            return
        with mock.lock:
            hold = sum(mock.answered.values()) >= mock.hold_after and not mock._released.is_set()
            mock._held += hold
        if hold:
            mock._released.wait(mock.max_lifetime_s)
            with mock.lock:
                mock._held -= 1

    def _client_connected(self) -> bool:
        """False when the client closed its end (killed, or timed out) while we were "thinking"."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return True
            return self.connection.recv(1, socket.MSG_PEEK) != b""
        except OSError:
            return False

    def _send(self, status: int, payload: bytes, content_type: str, headers: dict | None = None) -> bool:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
            return True
        except OSError:  # the client went away
            self.close_connection = True
            return False


def default_fault_plan(spec: str) -> Callable[[dict, int], Fault | None] | None:
    """For the standalone server: ``--faults 429-first`` makes each request's first try a 429."""
    if not spec:
        return None
    if spec == "429-first":
        return lambda body, n: Fault.http(429, retry_after="0.01") if n == 1 else None
    raise SystemExit(f"unknown fault plan {spec!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--max-workers", type=int, default=128)
    parser.add_argument("--lifetime", type=float, default=600.0, help="seconds before the server stops itself")
    parser.add_argument("--api-key-env", default=None, help="require the key held by this environment variable")
    parser.add_argument("--faults", default="", help="a named fault plan (429-first)")
    args = parser.parse_args(argv)
    import os

    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    mock = MockOpenAI(
        latency_s=args.latency,
        max_workers=args.max_workers,
        max_lifetime_s=args.lifetime,
        api_key=api_key,
        fault_fn=default_fault_plan(args.faults),
    )
    mock.start()
    print(mock.url, flush=True)
    try:
        while not mock._stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        mock.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
