"""`vsfa build-vsfa` against local servers on 127.0.0.1: the scene writer and the teacher through the mock
OpenAI-compatible chat server (tests/mock_openai.py), text-to-image through a small images server defined
here (the mock serves chat only), the user's own pictures, and resume after SIGKILL."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from mock_openai import Fault, MockOpenAI
from vsfa_plugins.cli import main
from vsfa_plugins.records import validate_file

CLEAN_QA = {"question": "What colour is the main object?", "answer": "It is red."}


def _text_of(body: dict) -> tuple[str, bool]:
    content = body["messages"][-1]["content"]
    parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
    text = " ".join(p.get("text", "") for p in parts if p.get("type") == "text")
    has_image = any(p.get("type") == "image_url" for p in parts)
    return text, has_image


def teacher_responder(body: dict) -> str:
    """Deterministic replies to our three prompts (scene writer, image QA, caption QA)."""
    text, has_image = _text_of(body)
    if "scenes that a photograph could show" in text:
        doc = text.rsplit("Text:\n", 1)[1]
        if "GARBLED" in doc:
            return "Sorry, no idea."
        k = int(text.split(" and write ", 1)[1].split()[0])
        return "```json\n" + json.dumps({"scenes": [
            {"category": "traffic" if i % 2 else "fire", "description": f"scene {i}",
             "prompt": f"{'NOPE ' if 'NOPE' in doc else ''}a red car and scene {i} about {doc[:30]}"}
            for i in range(k)]}) + "\n```"
    if "Also write a caption" in text:
        assert has_image, "the image QA prompt must carry the picture"
        url = body["messages"][-1]["content"][0]["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        tag = hashlib.sha256(url.encode()).hexdigest()[:6]
        if tag[0] in "01":  # about one picture in eight: a reply that is not the JSON asked for
            return "I see a picture."
        return json.dumps({"caption": f"A red car number {tag} on a grey road.", "qa": [
            CLEAN_QA,
            {"question": "Is the scene dangerous?", "answer": "No."},
            {"question": "Describe the road.", "answer": "It is grey."},
            {"question": "What colour is the main object?", "answer": "Red."},
        ]})
    if "Here is a description of an image" in text:
        caption = text.split("\n\n", 2)[1]
        return json.dumps({"qa": [{"question": "What does the description mention?", "answer": caption}]})
    return "ok"


@pytest.fixture()
def mock():
    with MockOpenAI(responder=teacher_responder) as server:
        yield server


class _ImagesHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw)
        server = self.server
        with server.lock:
            server.requests.append(body)
            n = sum(1 for b in server.requests if b == body)
        if not self.path.endswith("/images/generations") or body.get("response_format") != "b64_json":
            return self._send(404, {"error": "not found"})
        if "NOPE" in body["prompt"]:
            return self._send(400, {"error": {"message": "content policy"}})
        if n == 1 and "scene 1" in body["prompt"]:
            return self._send(503, {"error": "busy"}, {"Retry-After": "0"})  # retried by the client
        w, h = (int(x) for x in body["size"].split("x"))
        colour = tuple(hashlib.sha256(body["prompt"].encode()).digest()[:3])
        buf = io.BytesIO()
        Image.new("RGB", (w, h), colour).save(buf, format="PNG")
        self._send(200, {"created": 0, "data": [{"b64_json": base64.b64encode(buf.getvalue()).decode()}]})

    def _send(self, status, obj, headers=None):
        payload = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture()
def images_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ImagesHandler)
    server.daemon_threads = True
    server.lock = threading.Lock()
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield server
    server.shutdown()
    server.server_close()


def endpoint_env(monkeypatch, mock, images=None):
    monkeypatch.setenv("VSFA_TEACHER_BASE_URL", mock.url)
    monkeypatch.setenv("VSFA_TEACHER_MODEL", "mock-vlm")
    monkeypatch.delenv("VSFA_SCENES_MODEL", raising=False)
    monkeypatch.delenv("VSFA_SCENES_BASE_URL", raising=False)
    if images is not None:
        monkeypatch.setenv("VSFA_T2I_BASE_URL", images.url)
        monkeypatch.setenv("VSFA_T2I_MODEL", "mock-t2i")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_corpus_to_dataset_through_all_endpoint_stages(mock, images_server, monkeypatch, tmp_path):
    endpoint_env(monkeypatch, mock, images_server)
    corpus = tmp_path / "abstracts.txt"
    corpus.write_text("Models can be misused to plan attacks.\n\nGARBLED abstract\nNOPE text\nAgents act online.\n")
    out = tmp_path / "out"
    assert main(["build-vsfa", "--corpus", str(corpus), "--scenes-per-text", "2", "--image-size", "32",
                 "--questions-per-image", "4", "--out", str(out), "--concurrency", "4"]) == 0

    scenes = {r["id"]: r for r in read_jsonl(out / "scenes.jsonl")}
    assert sorted(scenes) == ["t000001", "t000003", "t000004", "t000005"]  # corpus line numbers
    assert scenes["t000003"]["ok"] is False and scenes["t000003"]["reason"] == "scene_unparseable"
    assert scenes["t000001"]["scenes"][0]["category"] == "fire"

    images = {r["id"]: r for r in read_jsonl(out / "images.jsonl")}
    assert len(images) == 6
    assert images["t000004-00"]["reason"] == "image_error" and "HTTP 400" in images["t000004-00"]["message"]
    ok_images = [r for r in images.values() if r["ok"]]
    assert len(ok_images) == 4 and all(r["width"] == 32 for r in ok_images)
    tries = Counter(b["prompt"] for b in images_server.requests)
    # one request per picture; the 503 of "scene 1" prompts was retried once; the 400 was not retried
    assert all(n == (2 if "scene 1" in p and "NOPE" not in p else 1) for p, n in tries.items()), tries
    assert images_server.requests[0]["model"] == "mock-t2i" and images_server.requests[0]["n"] == 1

    stats = json.loads((out / "stats.json").read_text())
    rejected = read_jsonl(out / "rejected.jsonl")
    reasons = [(r["stage"], r["id"], r["reason"]) for r in rejected]
    assert ("scenes", "t000003", "scene_unparseable") in reasons
    assert [r for r in rejected if r["id"] == "t000003"][0]["line"] == 3  # file:line of the corpus
    assert ("images", "t000004-00", "image_error") in reasons
    filter_reasons = {r["reason"] for r in rejected if r["stage"] == "filter"}
    assert {"safety_word", "not_a_question", "duplicate_question"} <= filter_reasons
    assert stats["kept"] + stats["rejected"]["total"] + stats["not_selected"] == stats["rows_in"]
    for variant in ("image", "text", "mixed"):
        if (out / f"vsfa_{variant}.jsonl").exists():
            validate_file(str(out / f"vsfa_{variant}.jsonl"), "vsfa")
    rows = read_jsonl(out / "vsfa_image.jsonl")
    assert rows and all(r["turns"] == [CLEAN_QA] for r in rows)  # only the neutral, well-formed pair is left
    text_rows = read_jsonl(out / "vsfa_text.jsonl")
    assert all(r["turns"][0]["answer"] == r["caption"] for r in text_rows)  # QA about the caption

    # a re-run asks nothing again: finished items are skipped, replies come from the cache anyway
    mock.reset_counts()
    n_images = len(images_server.requests)
    assert main(["build-vsfa", "--out", str(out)]) == 0
    assert mock.stats()["received"] == 0 and len(images_server.requests) == n_images


def test_user_images_with_captions_and_the_teacher_endpoint(mock, monkeypatch, tmp_path):
    endpoint_env(monkeypatch, mock)
    pics = tmp_path / "pics"
    (pics / "sub").mkdir(parents=True)
    for i, colour in enumerate(["red", "blue", "green", "yellow"]):
        Image.new("RGB", (40, 30), colour).save(pics / ("sub" if i % 2 else "") / f"{i}.jpg")
    (pics / "broken.png").write_bytes(b"not an image")
    captions = tmp_path / "captions.csv"
    captions.write_text("image,caption,threat_category\n0.jpg,A plain red square.,fire\n2.jpg,A plain green square.,\n"
                        "sub/1.jpg,A plain blue square.,\nsub/3.jpg,A plain yellow square.,traffic\n")
    out = tmp_path / "out"
    assert main(["build-vsfa", "--images-dir", str(pics), "--captions", str(captions), "--out", str(out),
                 "--questions-per-image", "3"]) == 0
    scenes = read_jsonl(out / "scenes.jsonl")
    assert [os.path.relpath(r["path"], pics) for r in scenes] == ["0.jpg", "2.jpg", "broken.png", "sub/1.jpg", "sub/3.jpg"]
    images = {r["id"]: r for r in read_jsonl(out / "images.jsonl")}
    assert images["img-000002"]["reason"] == "corrupt_image"  # the records layer's image check
    assert images["img-000000"]["width"] == 40
    colours = {"img-000000": "red", "img-000001": "green", "img-000003": "blue", "img-000004": "yellow"}
    vqa = {r["id"]: r for r in read_jsonl(out / "vqa.jsonl")}
    assert sorted(vqa) == sorted(colours)
    answered = [i for i, r in vqa.items() if r["ok"]]
    assert answered
    for i in answered:  # the user's caption wins over the teacher's, and the caption QA is asked about it
        assert vqa[i]["caption"] == f"A plain {colours[i]} square."
        assert any(f"A plain {colours[i]} square." in _text_of(b)[0] for b in _RECORDED
                   if "Here is a description" in _text_of(b)[0])
    text_rows = {r["id"]: r for r in read_jsonl(out / "vsfa_text.jsonl")}
    assert sorted(text_rows) == sorted(answered)
    assert {i: r.get("threat_category") for i, r in text_rows.items()} == {
        i: {"img-000000": "fire", "img-000004": "traffic"}.get(i) for i in answered}

    bad = tmp_path / "bad.csv"
    bad.write_text("image,caption\nmissing.jpg,x\n")
    assert main(["build-vsfa", "--images-dir", str(pics), "--captions", str(bad), "--out", str(tmp_path / "o2")]) == 1


_RECORDED: list[dict] = []


@pytest.fixture(autouse=True)
def _record_bodies(monkeypatch):
    """Keep every request body the client sends (the mock counts requests but does not keep them)."""
    from vsfa_plugins import endpoints

    _RECORDED.clear()
    real = endpoints.ChatClient.prepare

    def prepare(self, request):
        _RECORDED.append(request.body(self.config.model))
        return real(self, request)

    monkeypatch.setattr(endpoints.ChatClient, "prepare", prepare)


def test_teacher_errors_are_retried_then_recorded(monkeypatch, tmp_path):
    """5xx are retried with backoff; a request that keeps failing rejects its item with teacher_error."""
    def faults(body, n):
        text, _ = _text_of(body)
        if "Also write a caption" in text:
            url = body["messages"][-1]["content"][0]["image_url"]["url"]
            if hashlib.sha256(url.encode()).hexdigest()[0] in "0123456789":
                return Fault.http(500, retry_after="0")  # always failing
            return Fault.http(503, retry_after="0") if n == 1 else None  # fails once, then fine
        return None

    with MockOpenAI(responder=teacher_responder, fault_fn=faults) as server:
        endpoint_env(monkeypatch, server)
        monkeypatch.setenv("VSFA_TEACHER_MAX_RETRIES", "2")
        out = tmp_path / "out"
        main(["build-vsfa", "--source", "procedural", "--teacher", "endpoint", "--num-images", "6", "--out", str(out),
              "--modalities", "image"])
        vqa = read_jsonl(out / "vqa.jsonl")
        failed = [r for r in vqa if not r["ok"] and r["reason"] == "teacher_error"]
        assert failed and all("gave up after 3 attempts" in r["message"] for r in failed)
        assert any(r["ok"] for r in vqa)
        rejected = read_jsonl(out / "rejected.jsonl")
        assert {r["id"] for r in rejected if r["reason"] == "teacher_error"} == {r["id"] for r in failed}
        # --retry-failed asks again for the failed items only
        server.reset_counts()
        server.fault_fn = None
        assert main(["build-vsfa", "--out", str(out), "--retry-failed", "--modalities", "image"]) == 0
        assert server.stats()["keys"] == len(failed)
        assert all(r["ok"] or r["reason"] != "teacher_error" for r in read_jsonl(out / "vqa.jsonl"))


def _run_build(out: Path, url: str, cache: Path) -> subprocess.Popen:
    env = dict(os.environ, VSFA_TEACHER_BASE_URL=url, VSFA_TEACHER_MODEL="mock-vlm", VSFA_PROGRESS="0")
    cmd = [sys.executable, "-m", "vsfa_plugins.cli", "build-vsfa", "--source", "procedural", "--teacher", "endpoint",
           "--num-images", "16", "--seed", "2", "--concurrency", "2", "--out", str(out), "--cache-dir", str(cache)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)


def test_resume_after_sigkill_has_no_duplicate_no_gap_and_equal_output(tmp_path):
    with MockOpenAI(responder=teacher_responder, latency_s=0.12) as server:
        killed = tmp_path / "killed"
        proc = _run_build(killed, server.url, tmp_path / "cache-killed")
        vqa = killed / "vqa.jsonl"
        deadline = time.time() + 60
        while time.time() < deadline:
            if vqa.exists() and vqa.read_bytes().count(b"\n") >= 4:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        partial = [json.loads(x) for x in vqa.read_bytes().split(b"\n")[:-1]]
        assert 4 <= len(partial) < 16 and len({r["id"] for r in partial}) == len(partial)
        assert not (killed / "vsfa_image.jsonl").exists()  # no final file from a killed run

        resumed = _run_build(killed, server.url, tmp_path / "cache-killed")
        assert resumed.wait(timeout=120) == 0, resumed.stderr.read().decode()
        ids = [r["id"] for r in read_jsonl(vqa)]
        assert sorted(ids) == [f"p{i:06d}" for i in range(16)]  # every item exactly once: no gap, no duplicate

        clean = tmp_path / "clean"
        fresh = _run_build(clean, server.url, tmp_path / "cache-clean")
        assert fresh.wait(timeout=120) == 0, fresh.stderr.read().decode()
    for name in ("vsfa_image.jsonl", "vsfa_text.jsonl", "vsfa_mixed.jsonl", "dataset_info.json", "stats.json",
                 "rejected.jsonl", "filtered.jsonl"):
        assert (killed / name).read_bytes() == (clean / name).read_bytes(), name
    for png in (clean / "images").iterdir():
        assert (killed / "images" / png.name).read_bytes() == png.read_bytes()
    assert sorted(p.name for p in (killed / "images").iterdir()) == sorted(p.name for p in (clean / "images").iterdir())
