"""OpenAI-compatible chat completions for judges and teachers: concurrency, retries, a crash-safe cache.

One client, two users: LLM judges (``scoring.llm``) and the VLM teacher of the dataset builders (images as
data-URL content parts, see :func:`image_part`). Standard library only (``http.client``): it costs about
a tenth of the CPU per request of ``httpx`` + threads, which decides throughput once 64 requests are in
flight on a small machine.

* **Requests are deterministic**: the body is canonical JSON (sorted keys, no whitespace) and defaults
  to ``temperature: 0``; its SHA-256 (with a namespace) is the cache key, so the same question to the
  same model is asked once, ever.
* **Concurrency**: :meth:`ChatClient.complete_many` runs a batch on the client's thread pool, one
  keep-alive connection per worker thread; identical requests in a batch are sent once; a tqdm bar
  counts completions (``VSFA_PROGRESS=1/0`` forces it on/off; unset: on when stderr is a terminal).
  ``HTTP(S)_PROXY`` / ``NO_PROXY`` are honoured (CONNECT tunnel for https).
* **One HTTP client** (:class:`HttpClient`) for every JSON endpoint we call: chat completions here, the
  images endpoint of the VSFA builder (``builders/vsfa/images.py``) through the same class.
* **Retries** with exponential backoff and full jitter on 429, 408/409/425, 5xx, timeouts, connection
  errors/resets and malformed bodies; ``Retry-After`` / ``retry-after-ms`` are honoured. Other 4xx fail
  at once (retrying a bad request only costs money).
* **Bounded requests**: ``timeout_s`` bounds each connect and each socket read, and a **total deadline**
  (``deadline_s``, default 5 x ``timeout_s``) bounds each attempt as a whole — a server that drips one
  byte a second never trips a read timeout, so one watchdog thread shuts the socket of any attempt past
  its deadline. An answer larger than ``max_response_bytes`` (8 MiB) is refused without reading it all.
* **Cache** (:class:`DiskCache`): one JSON file per key, written with :func:`vsfa_plugins.io.atomic_write_text`
  (temp file + ``os.replace``: two processes may share a cache folder, a killed run leaves a complete
  entry or none). The key hashes the namespace, the **normalised endpoint**
  (:attr:`EndpointConfig.endpoint_id`: scheme, host, port, path, non-secret query — never credentials)
  and the request body, so switching servers never replays another server's answers. Each completion is
  stored the moment it is read, so a resumed run never asks again for anything stored; a caller may pass
  ``accept`` so that only answers it could use (e.g. a parsable verdict) are stored or replayed. Failures
  are not cached. A cache that cannot be written (read-only, full) is reported once on stderr and the run
  goes on without it.
* **Secrets**: the API key is read from the environment *by name* (``api_key_env``) at the moment a
  request is sent and put only in its ``Authorization`` header. It is never an attribute, never logged,
  never cached or written to results, and any error text is scrubbed (:func:`scrub`) before it leaves
  this module: the key, Bearer/Basic tokens, ``user:password@`` in URLs and credential query parameters
  (``api_key=``, ``key=``, ``token=``, ...). ``user:password@`` in a base URL becomes basic auth and is
  cut from every URL we print (:attr:`EndpointConfig.public_url`).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import heapq
import http.client
import itertools
import json
import mimetypes
import os
import random
import re
import socket
import ssl
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: statuses worth retrying: rate limits, timeouts/conflicts on the server side, and every 5xx
RETRY_STATUSES = frozenset({408, 409, 425, 429})
PROGRESS_ENV = "VSFA_PROGRESS"
#: the largest answer read from an endpoint (a judge verdict is a few hundred bytes)
DEFAULT_MAX_RESPONSE_BYTES = 8 << 20
#: the total deadline of one attempt, when ``deadline_s`` is not set: this many times ``timeout_s``
DEADLINE_FACTOR = 5
#: query parameters that carry credentials: sent to the server, never printed, stored or hashed
SECRET_QUERY_KEYS = frozenset({
    "api_key", "api-key", "apikey", "key", "token", "access_token", "access-token", "auth", "password", "secret",
    "client_secret", "sig", "signature",
})
T = TypeVar("T")


class EndpointError(RuntimeError):
    """A request that failed for good (after retries, or at once for a non-retryable status)."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1):
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class ConfigError(ValueError):
    """The endpoint is not configured (missing model / URL); the message names the variables to set."""


# --------------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointConfig:
    """Where to send requests and how hard to try. Holds the *name* of the key's variable, never the key.

    ``base_url`` may be an API root (``https://host/v1``) or the full URL of the route
    (``https://host/v1/chat/completions``, lmms-eval's ``OPENAI_API_URL`` style); both work, and a query
    (``?api-version=...``) stays after the route. ``deadline_s`` bounds one attempt as a whole (default
    ``DEADLINE_FACTOR`` x ``timeout_s``); ``max_response_bytes`` the size of an answer.
    """

    base_url: str
    model: str
    api_key_env: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    max_retry_after_s: float = 600.0
    deadline_s: float | None = None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    route: str = "/chat/completions"

    @property
    def url(self) -> str:
        """The URL requests go to (credentials included: never print it, use :attr:`public_url`)."""
        parts = urlsplit(self.base_url)
        path = parts.path.rstrip("/")
        if not path.endswith(self.route):
            path += self.route
        return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))

    @property
    def public_url(self) -> str:
        """The URL without user:password@ and credential query parameters (safe to print or store)."""
        return _public(self.url)

    @property
    def endpoint_id(self) -> str:
        """The normalised endpoint, part of every cache key: ``scheme://host:port/path?query`` with the host
        lowercased, the default port spelt out, no credentials and the non-secret query sorted."""
        return endpoint_id(self.url)

    @property
    def total_deadline_s(self) -> float:
        return float(self.deadline_s) if self.deadline_s is not None else DEADLINE_FACTOR * float(self.timeout_s)

    @classmethod
    def from_env(cls, prefix: str = "VSFA_JUDGE", env: Mapping[str, str] | None = None, **overrides) -> EndpointConfig:
        """``{prefix}_BASE_URL`` / ``{prefix}_MODEL`` / ``{prefix}_API_KEY``, falling back to lmms-eval's
        ``OPENAI_API_URL`` / ``MODEL_VERSION`` / ``OPENAI_API_KEY``; ``{prefix}_TIMEOUT``,
        ``{prefix}_DEADLINE`` (seconds) and ``{prefix}_MAX_RETRIES``. The model must be set explicitly (a
        results file must say which model judged it)."""
        env = os.environ if env is None else env
        base_url = env.get(f"{prefix}_BASE_URL") or env.get("OPENAI_API_URL") or DEFAULT_BASE_URL
        model = env.get(f"{prefix}_MODEL") or env.get("MODEL_VERSION")
        if not model:
            raise ConfigError(f"no model for the endpoint: set {prefix}_MODEL (or lmms-eval's MODEL_VERSION)")
        key_env = next((name for name in (f"{prefix}_API_KEY", "OPENAI_API_KEY") if env.get(name)), None)
        values: dict[str, Any] = dict(base_url=base_url, model=model, api_key_env=key_env)
        for name, kind in (("timeout_s", float), ("deadline_s", float), ("max_retries", int)):
            variable = f"{prefix}_{name.upper().removesuffix('_S')}"
            raw = env.get(variable)
            if raw:
                try:
                    values[name] = kind(raw)
                except ValueError:
                    raise ConfigError(f"{variable} must be a number, got {raw!r}") from None
        values.update(overrides)
        return cls(**values)


def endpoint_id(url: str) -> str:
    """See :attr:`EndpointConfig.endpoint_id`."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"https": 443, "http": 80}.get(scheme, 0)
    except ValueError:
        port = 0
    query = "&".join(sorted(p for p in parts.query.split("&") if p and not _secret_param(p)))
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}{parts.path or '/'}" + (f"?{query}" if query else "")


def _secret_param(pair: str) -> bool:
    return unquote(pair.split("=", 1)[0]).strip().lower() in SECRET_QUERY_KEYS


# --------------------------------------------------------------------------------------------------
# requests
# --------------------------------------------------------------------------------------------------


def canonical_json(obj: Any) -> str:
    """The one serialisation used for bodies and keys: sorted keys, compact, UTF-8 kept as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class ChatRequest:
    """Messages + sampling parameters (``temperature`` defaults to 0); the model comes from the config."""

    messages: Sequence[Mapping[str, Any]]
    params: Mapping[str, Any] = field(default_factory=dict)

    def body(self, model: str) -> dict[str, Any]:
        return {"model": model, "messages": list(self.messages), "temperature": 0, **dict(self.params)}


def request_key(namespace: str, body_json: str, endpoint: str = "") -> str:
    """The cache key of a request: namespace, normalised endpoint (:func:`endpoint_id`) and body."""
    digest = hashlib.sha256()
    for part in (namespace, endpoint):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x1f")
    digest.update(body_json.encode("utf-8"))
    return digest.hexdigest()


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def image_part(image: Any, *, mime: str | None = None, detail: str | None = None) -> dict[str, Any]:
    """An ``image_url`` content part holding the image as a ``data:`` URL (teachers see local files).

    ``image``: a file path, raw bytes (give ``mime``, default PNG) or a PIL image (encoded as PNG).
    """
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        mime = mime or mimetypes.guess_type(path)[0] or "application/octet-stream"
        with open(path, "rb") as f:
            data = f.read()
    elif isinstance(image, (bytes, bytearray)):
        data, mime = bytes(image), mime or "image/png"
    elif hasattr(image, "save"):  # PIL.Image, without importing PIL here
        import io

        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        data, mime = buffer.getvalue(), "image/png"
    else:
        raise TypeError(f"image must be a path, bytes or a PIL image, not {type(image).__name__}")
    url = {"url": f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"}
    if detail:
        url["detail"] = detail
    return {"type": "image_url", "image_url": url}


def user_message(*parts: Any) -> dict[str, Any]:
    """``{"role": "user", "content": [...]}``; plain strings become text parts."""
    return {"role": "user", "content": [text_part(p) if isinstance(p, str) else p for p in parts]}


# --------------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    key: str
    content: str
    cached: bool = False
    attempts: int = 1
    usage: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class EndpointFailure:
    key: str
    error: str
    status: int | None = None
    attempts: int = 1


# --------------------------------------------------------------------------------------------------
# the on-disk cache
# --------------------------------------------------------------------------------------------------

_UNSAFE_PATH_CHARS = re.compile(r"[^A-Za-z0-9_.=-]")


class DiskCache:
    """``root/<namespace parts>/<key[:2]>/<key>.json``, one atomic file per entry.

    ``namespace`` is ``/``-separated (e.g. ``"xstest_gpt/<prompt hash>"``); each part is made
    filesystem-safe. A file that cannot be read as JSON (only possible after a power loss, since writes
    are atomic) is treated as missing and overwritten. Hidden files (a killed writer's temp files) are
    never read. :meth:`put` raises ``OSError`` when the folder cannot be written; :class:`ChatClient`
    turns that into one warning.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = os.fspath(root)

    def path(self, namespace: str, key: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{8,128}", key):
            raise ValueError(f"cache keys are hex digests, got {key!r}")
        parts = [_safe_part(p) for p in namespace.split("/") if p]
        return os.path.join(self.root, *parts, key[:2], key + ".json")

    def get(self, namespace: str, key: str) -> dict[str, Any] | None:
        try:
            with open(self.path(namespace, key), encoding="utf-8") as f:
                record = json.load(f)
        except (OSError, ValueError):  # missing, unreadable, torn: a miss
            return None
        return record if isinstance(record, dict) and record.get("key") == key else None

    def put(self, namespace: str, key: str, record: Mapping[str, Any]) -> None:
        from .io import atomic_write_text

        atomic_write_text(self.path(namespace, key), canonical_json({**record, "key": key}))

    def __len__(self) -> int:
        return sum(1 for _ in self.entries())

    def entries(self) -> Iterable[str]:
        for folder, _, files in os.walk(self.root):
            for name in files:
                if name.endswith(".json") and not name.startswith("."):
                    yield os.path.join(folder, name)


def _safe_part(part: str) -> str:
    safe = _UNSAFE_PATH_CHARS.sub("_", part)
    if safe != part or safe in (".", ".."):  # keep distinct namespaces distinct after sanitising
        safe = f"{safe}-{hashlib.sha256(part.encode()).hexdigest()[:8]}"
    return safe


# --------------------------------------------------------------------------------------------------
# the HTTP client: one for every endpoint (chat here, images in builders/vsfa/images.py)
# --------------------------------------------------------------------------------------------------


class DeadlineExceeded(TimeoutError):
    """An attempt ran past its total deadline (the watchdog shut its socket)."""


class ResponseTooLarge(Exception):
    """An answer larger than ``max_response_bytes``."""


class _Watchdog:
    """One daemon thread for every client: shuts the socket of an attempt still running at its deadline,
    which wakes the thread blocked reading it. A socket timeout alone starts again with every byte a
    server drips; this bounds the attempt as a whole, headers and body."""

    def __init__(self):
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._armed: dict[int, tuple[float, http.client.HTTPConnection]] = {}
        self._fired: set[int] = set()
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, conn: http.client.HTTPConnection, seconds: float) -> int:
        token = next(self._tokens)
        when = time.monotonic() + seconds
        with self._cond:
            self._armed[token] = (when, conn)
            heapq.heappush(self._heap, (when, token))
            if len(self._heap) > 2 * len(self._armed) + 1024:  # drop disarmed entries now and then
                self._heap = [(w, t) for t, (w, _) in self._armed.items()]
                heapq.heapify(self._heap)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="vsfa-endpoint-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()
        return token

    def disarm(self, token: int) -> bool:
        """True when the deadline had passed and the connection was shut."""
        with self._cond:
            self._armed.pop(token, None)
            if token in self._fired:
                self._fired.discard(token)
                return True
            return False

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][1] not in self._armed:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                when, token = self._heap[0]
                delay = when - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
                _, conn = self._armed.pop(token)
                self._fired.add(token)
                sock = conn.sock
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass


_WATCHDOG = _Watchdog()


class _Transport:
    """POSTs to one URL over keep-alive connections, one per calling thread (``http.client``).

    A connection that fails in any way is closed and replaced on the next request; retrying is the
    caller's business. Proxies come from the environment like everywhere else in Python
    (``urllib.request.getproxies`` / ``proxy_bypass``): https goes through a CONNECT tunnel, plain http
    is sent to the proxy with the absolute URL.
    """

    def __init__(self, url: str, timeout_s: float, deadline_s: float, max_bytes: int):
        import urllib.request

        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
            raise ConfigError(f"endpoint URL must be http(s)://host[:port]/..., got {_public(url)!r}")
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname, port or (443 if self.https else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self.max_bytes = max_bytes
        self.extra_headers: dict[str, str] = {}
        if parts.username:  # user:password@ in the URL -> basic auth, never echoed anywhere
            token = base64.b64encode(f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()).decode()
            self.extra_headers["Authorization"] = f"Basic {token}"
        self.proxy: tuple[str, int, dict[str, str]] | None = None
        proxy_url = urllib.request.getproxies().get(parts.scheme)
        if proxy_url and not urllib.request.proxy_bypass(parts.hostname):
            proxy = urlsplit(proxy_url if "://" in proxy_url else f"http://{proxy_url}")
            headers = {}
            if proxy.username:
                creds = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
                headers["Proxy-Authorization"] = "Basic " + base64.b64encode(creds.encode()).decode()
            self.proxy = (proxy.hostname or "", proxy.port or 8080, headers)
        self._context = ssl.create_default_context() if self.https else None
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def post(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        conn = getattr(self._local, "conn", None) or self._connect()
        target, send_headers = self.path, {**self.extra_headers, **headers}
        if self.proxy is not None and not self.https:
            target = f"http://{self.host}:{self.port}{self.path}"  # a forward proxy wants the absolute URL
            send_headers.update(self.proxy[2])
        token = _WATCHDOG.arm(conn, self.deadline_s)
        try:
            conn.request("POST", target, body=body, headers=send_headers)
            response = conn.getresponse()
            data = self._read(response)
        except BaseException as err:
            fired = _WATCHDOG.disarm(token)
            self._drop(conn)
            if fired and not isinstance(err, (ResponseTooLarge, KeyboardInterrupt)):
                raise DeadlineExceeded() from None
            raise
        if _WATCHDOG.disarm(token):  # shut mid-body: what was read may be cut short
            self._drop(conn)
            raise DeadlineExceeded()
        if response.will_close:
            self._drop(conn)
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def _read(self, response: http.client.HTTPResponse) -> bytes:
        """The body, refused (:class:`ResponseTooLarge`) as soon as it is known to pass ``max_bytes``."""
        declared = response.getheader("content-length")
        if declared and declared.strip().isdigit() and int(declared) > self.max_bytes:
            raise ResponseTooLarge(int(declared))
        chunks, total = [], 0
        while True:
            chunk = response.read(min(1 << 16, self.max_bytes + 1 - total))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            total += len(chunk)
            if total > self.max_bytes:
                raise ResponseTooLarge(None)

    def _connect(self) -> http.client.HTTPConnection:
        if self.proxy is None:
            conn = (
                http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout_s, context=self._context)
                if self.https
                else http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
            )
        elif self.https:
            proxy_host, proxy_port = self.proxy[0], self.proxy[1]
            conn = http.client.HTTPSConnection(proxy_host, proxy_port, timeout=self.timeout_s, context=self._context)
            conn.set_tunnel(self.host, self.port, headers=self.proxy[2])
        else:
            conn = http.client.HTTPConnection(self.proxy[0], self.proxy[1], timeout=self.timeout_s)
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()


class HttpClient:
    """JSON POSTs to one endpoint (``config.url``) with the retry policy, the deadline, the size cap and
    scrubbed errors described in the module docstring. Thread-safe (one connection per thread).

    :meth:`post` returns ``(parse(body), attempts)`` for a 200 whose body ``parse`` accepts; ``parse``
    raising ``ValueError`` means a malformed body (retried). Anything else that fails for good raises
    :class:`EndpointError`. ``sleep`` and ``rng`` are injectable for tests.
    """

    def __init__(self, config: EndpointConfig, *, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None):
        self.config = config
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._transport = _Transport(config.url, config.timeout_s, config.total_deadline_s,
                                     config.max_response_bytes)

    def close(self) -> None:
        self._transport.close()

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.config.api_key_env) if self.config.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def post(self, payload: bytes, parse: Callable[[bytes], T]) -> tuple[T, int]:
        cfg = self.config
        last = "no attempt made"
        status: int | None = None
        for attempt in range(1, cfg.max_retries + 2):
            retry_after: float | None = None
            try:
                status, headers, data = self._transport.post(payload, self.headers())
            except DeadlineExceeded:
                last, status = f"no complete response within the {cfg.total_deadline_s:g}s total deadline", None
            except (socket.timeout, TimeoutError) as err:
                last, status = f"timeout after {cfg.timeout_s:g}s ({type(err).__name__})", None
            except ResponseTooLarge:
                raise EndpointError(
                    self.scrub(f"the response from {cfg.public_url} is larger than the "
                               f"{cfg.max_response_bytes / (1 << 20):g} MiB limit (max_response_bytes); not retried"),
                    status=200, attempts=attempt,
                ) from None
            except (OSError, http.client.HTTPException) as err:  # refused, reset, closed without a response
                last, status = f"connection error ({type(err).__name__}: {err})", None
            else:
                if status == 200:
                    try:
                        return parse(data), attempt
                    except ValueError as err:
                        last = f"malformed response body ({err})"
                elif status in RETRY_STATUSES or status >= 500:
                    last = f"HTTP {status}: {_snippet(data.decode('utf-8', 'replace'))}"
                    retry_after = _retry_after(headers)
                else:
                    raise EndpointError(
                        self.scrub(f"HTTP {status} from {cfg.public_url}: {_snippet(data.decode('utf-8', 'replace'))}"),
                        status=status,
                        attempts=attempt,
                    ) from None
            if attempt > cfg.max_retries:
                break
            self._sleep(self._delay(attempt, retry_after))
        raise EndpointError(
            self.scrub(f"gave up after {cfg.max_retries + 1} attempts to {cfg.public_url}; last: {last}"),
            status=status,
            attempts=cfg.max_retries + 1,
        ) from None

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        cfg = self.config
        with self._rng_lock:
            jitter = self._rng.random()
        if retry_after is not None:
            # the server said when: wait that long (plus up to 10% so a crowd does not return at once)
            return min(retry_after, cfg.max_retry_after_s) * (1 + 0.1 * jitter)
        return min(cfg.backoff_max_s, cfg.backoff_base_s * 2 ** (attempt - 1)) * jitter  # "full jitter"

    def scrub(self, text: str) -> str:
        key = os.environ.get(self.config.api_key_env) if self.config.api_key_env else None
        return scrub(text, key)


class ChatClient:
    """Chat completions against one endpoint, optionally cached under ``namespace``.

    ``sleep`` is injectable for tests (no real waiting). The worker threads (and their connections) live
    as long as the client: use it as a context manager or call :meth:`close`.
    """

    def __init__(
        self,
        config: EndpointConfig,
        *,
        namespace: str = "default",
        cache: DiskCache | None = None,
        concurrency: int = 16,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        self.config = config
        self.namespace = namespace
        self.cache = cache
        self.http = HttpClient(config, sleep=sleep, rng=rng)
        self._endpoint = config.endpoint_id
        self._concurrency = max(concurrency, 1)
        self._pool: ThreadPoolExecutor | None = None
        self._cache_lock = threading.Lock()
        self._cache_broken = False

    # context manager -----------------------------------------------------------------------------
    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self.http.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # one request ---------------------------------------------------------------------------------
    def prepare(self, request: ChatRequest) -> tuple[str, str]:
        """``(key, body_json)`` for a request: what is sent and what it is cached under."""
        body_json = canonical_json(request.body(self.config.model))
        return request_key(self.namespace, body_json, self._endpoint), body_json

    def complete(self, request: ChatRequest, *, accept: Callable[[str], bool] | None = None) -> Completion:
        """One completion (raises :class:`EndpointError`). ``accept(content)``: whether an answer may be
        stored in / replayed from the cache (default: every answer)."""
        key, body_json = self.prepare(request)
        cached = self._cached(key, accept)
        if cached is not None:
            return cached
        return self._fetch_and_store(key, body_json, accept)

    # a batch -------------------------------------------------------------------------------------
    def complete_many(
        self, requests: Sequence[ChatRequest], *, progress: bool | None = None, desc: str = "requests",
        accept: Callable[[str], bool] | None = None,
    ) -> list[Completion | EndpointFailure]:
        """All requests, in input order; a failure is returned (not raised) as :class:`EndpointFailure`."""
        prepared = [self.prepare(r) for r in requests]
        results: dict[str, Completion | EndpointFailure] = {}
        todo: dict[str, str] = {}
        for key, body_json in prepared:
            if key in results or key in todo:
                continue  # identical requests in one batch are asked once
            cached = self._cached(key, accept)
            if cached is not None:
                results[key] = cached
            else:
                todo[key] = body_json
        bar = _progress_bar(len(todo), desc, progress)
        if todo and self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="vsfa-endpoint")
        pool = self._pool
        futures = {}
        try:
            futures = {pool.submit(self._fetch_and_store, key, body, accept): key for key, body in todo.items()}
            for future in as_completed(futures):
                key = futures[future]
                try:
                    results[key] = future.result()
                except EndpointError as err:
                    results[key] = EndpointFailure(key, str(err), err.status, err.attempts)
                bar.update(1)
        except BaseException:
            for future in futures:  # Ctrl-C: stop sending; what arrived is already stored
                future.cancel()
            raise
        finally:
            bar.close()
        return [results[key] for key, _ in prepared]

    # internals -----------------------------------------------------------------------------------
    def _cached(self, key: str, accept: Callable[[str], bool] | None) -> Completion | None:
        if self.cache is None:
            return None
        record = self.cache.get(self.namespace, key)
        if record is None or not isinstance(record.get("content"), str):
            return None
        if accept is not None and not accept(record["content"]):
            return None  # e.g. an unparsable verdict an older version stored: ask again
        return Completion(key, record["content"], cached=True, attempts=0, usage=record.get("usage"))

    def _fetch_and_store(self, key: str, body_json: str, accept: Callable[[str], bool] | None) -> Completion:
        (content, usage), attempts = self.http.post(body_json.encode("utf-8"), _parse_completion)
        if self.cache is not None and not self._cache_broken and (accept is None or accept(content)):
            # only what the endpoint said: no headers, no key, no timestamps (the cache stays reproducible)
            self._store(key, {"model": self.config.model, "content": content, "usage": usage})
        return Completion(key, content, cached=False, attempts=attempts, usage=usage)

    def _store(self, key: str, record: Mapping[str, Any]) -> None:
        """A cache that cannot be written (read-only, full, a file in the way) costs the cache, never the
        run: the answer is returned all the same, one warning says so and no further write is tried."""
        try:
            self.cache.put(self.namespace, key, record)
        except OSError as err:
            with self._cache_lock:
                if self._cache_broken:
                    return
                self._cache_broken = True
            print(f"warning: cannot write the endpoint cache under {self.cache.root} ({err.strerror or err}); "
                  "going on without caching (answers of this run are kept in its results)", file=sys.stderr)


def _public(url: str) -> str:
    """``url`` without ``user:password@`` and with credential query parameters masked."""
    return _QUERY_SECRET.sub(r"\1***", _USERINFO.sub(r"\1", url))


_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]*@")
_QUERY_SECRET = re.compile(
    r"(?i)(?<![A-Za-z0-9])((?:" + "|".join(re.escape(k) for k in sorted(SECRET_QUERY_KEYS, key=len, reverse=True))
    + r")=)[^&\s\"'#;,]+"
)
_AUTH_TOKEN = re.compile(r"(?i)\b(bearer\s+)\S+|\b(basic\s+)[A-Za-z0-9+/]{8,}={0,2}")


def scrub(text: str, secret: str | None = None) -> str:
    """``text`` with every occurrence of ``secret``, of a Bearer / Basic token, of ``user:password@`` in a
    URL and of a credential query parameter (``api_key=``, ``key=``, ``token=``, ...) masked."""
    if secret:
        text = text.replace(secret, "***")
    text = _AUTH_TOKEN.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)
    text = _USERINFO.sub(r"\1***@", text)
    return _QUERY_SECRET.sub(r"\1***", text)


def _parse_completion(raw: bytes) -> tuple[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"not JSON: {_snippet(raw.decode('utf-8', 'replace'))}") from None
    try:
        message = data["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise ValueError("no choices[0].message") from None
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):  # some servers return content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        raise ValueError("choices[0].message.content is not text")
    return content, data.get("usage")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:  # an HTTP date
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def progress_enabled(progress: bool | None = None) -> bool:
    if progress is not None:
        return progress
    forced = os.environ.get(PROGRESS_ENV)
    if forced in ("0", "1"):
        return forced == "1"
    return sys.stderr.isatty()


def _progress_bar(total: int, desc: str, progress: bool | None):
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="req",
        disable=not progress_enabled(progress) or total == 0,
        file=sys.stderr,
        dynamic_ncols=True,
    )


__all__ = [
    "ChatClient",
    "DeadlineExceeded",
    "HttpClient",
    "ResponseTooLarge",
    "ChatRequest",
    "Completion",
    "ConfigError",
    "DiskCache",
    "EndpointConfig",
    "EndpointError",
    "EndpointFailure",
    "canonical_json",
    "image_part",
    "progress_enabled",
    "endpoint_id",
    "request_key",
    "scrub",
    "text_part",
    "user_message",
]
