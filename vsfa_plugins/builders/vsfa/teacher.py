"""Stage 3 of ``vsfa build-vsfa``: a teacher writes neutral questions and answers about each picture.

Teachers (``--teacher``):

* ``endpoint``   — any OpenAI-compatible chat endpoint serving a VLM (vLLM, SGLang, LMDeploy, a hosted
  API), through :class:`vsfa_plugins.endpoints.ChatClient`: the picture goes as a ``data:`` URL, requests
  are deterministic (``temperature: 0``) and cached on disk (``<out>/cache`` unless ``--cache-dir``), with
  retries and backoff. Configure with ``VSFA_TEACHER_BASE_URL``, ``VSFA_TEACHER_MODEL`` and (if the server
  needs one) ``VSFA_TEACHER_API_KEY`` — read from the environment only, never written anywhere.
* ``local``      — a local transformers VLM folder (``--teacher-model PATH``) loaded with
  ``AutoProcessor`` + ``AutoModelForImageTextToText``, greedy decoding.
* ``procedural`` — answers derived from the drawn scene's metadata (:mod:`.procedural`; demos/tests).

Two requests per picture: (1) image + :data:`IMAGE_QA_PROMPT` → a caption and ``n`` QA pairs about the
image (``turns``, used by the ``image`` and ``mixed`` modalities); (2) the caption alone +
:data:`CAPTION_QA_PROMPT` → QA answerable from the caption (``text_turns``, the ``text`` modality, where
the picture is replaced by its caption). Request (2) is skipped when no text modality is built. A user
caption (``--captions``) replaces the teacher's caption.

A reply that is not the JSON asked for rejects the item (reason ``teacher_unparseable``) and is not
cached (a later run asks again); a request that fails for good rejects it with ``teacher_error`` — both
end in ``rejected.jsonl``. The cache key includes the normalised endpoint (never its credentials).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ...records import RecordError
from .scenes import extract_json

TEACHER_ENV_PREFIX = "VSFA_TEACHER"

IMAGE_QA_PROMPT = """\
You write training data for a vision-language model. Look at the image and write {n} different questions \
about what is visible, each with a short, correct answer.

Cover different kinds of questions: which objects are shown, counting, colours, positions (left, right, \
top, bottom), any text written in the image, and one simple reasoning question. Ask only about things that \
are clearly visible, so that every question can be answered from the image alone.

Write in plain, neutral, descriptive English. Describe; do not judge, warn, advise or comment on whether \
anything is safe, allowed or risky.

Also write a caption: one paragraph that describes everything your questions ask about.

Reply with JSON only, in this form:
{{"caption": "...", "qa": [{{"question": "...", "answer": "..."}}]}}"""

CAPTION_QA_PROMPT = """\
Here is a description of an image:

{caption}

Write {n} different questions that can be answered from this description alone, each with a short, \
correct answer taken from the description (objects, counts, colours, positions, written text). Write in \
plain, neutral, descriptive English; describe, do not judge, warn or advise.

Reply with JSON only, in this form:
{{"qa": [{{"question": "...", "answer": "..."}}]}}"""


class TeacherReplyError(ValueError):
    """The teacher's reply is not the JSON asked for."""


def parse_qa(text: str, want_caption: bool) -> tuple[str | None, list[dict]]:
    """``(caption, [{question, answer}])`` from a teacher reply; :class:`TeacherReplyError` if unusable."""
    try:
        data = extract_json(text)
    except ValueError as err:
        raise TeacherReplyError(str(err)) from None
    if not isinstance(data, dict):
        raise TeacherReplyError("the reply is not a JSON object")
    qa = data.get("qa", data.get("questions"))
    if not isinstance(qa, list) or not qa:
        raise TeacherReplyError("no 'qa' list")
    turns = []
    for pair in qa:
        if isinstance(pair, dict) and isinstance(pair.get("question"), str) and isinstance(pair.get("answer"), (str, int, float)):
            turns.append({"question": pair["question"].strip(), "answer": str(pair["answer"]).strip()})
    if not turns:
        raise TeacherReplyError("no usable {question, answer} pair")
    caption = data.get("caption")
    if want_caption and not (isinstance(caption, str) and caption.strip()):
        raise TeacherReplyError("no 'caption'")
    return (caption.strip() if isinstance(caption, str) else None), turns


@dataclass
class TeacherResult:
    ok: bool
    caption: str | None = None
    turns: list | None = None
    text_turns: list | None = None
    reason: str = ""
    message: str = ""

    def to_record(self) -> dict:
        if not self.ok:
            return {"ok": False, "reason": self.reason, "message": self.message}
        rec = {"ok": True, "caption": self.caption, "turns": self.turns}
        if self.text_turns is not None:
            rec["text_turns"] = self.text_turns
        return rec


# ------------------------------------------------------------------------------------------------------
# teachers
# ------------------------------------------------------------------------------------------------------


class ProceduralTeacher:
    """Questions, answers and caption from the scene metadata: correct by construction."""

    name = "procedural"

    def __init__(self, n: int, seed: int):
        self.n, self.seed = n, seed

    def ask(self, item, image_path: str, user_caption: str | None, want_text: bool) -> TeacherResult:
        from .procedural import SceneSpec, caption, qa_pairs

        if item.spec is None:
            raise RecordError("--teacher procedural only works with --source procedural (it reads the drawn scene)")
        spec = SceneSpec.from_dict(item.spec)
        turns = qa_pairs(spec, self.n, self.seed)
        # the caption names every fact the questions ask about, so the same pairs answer from the caption
        return TeacherResult(True, user_caption or caption(spec), turns, turns if want_text else None)


class _ChatTeacher:
    """Shared logic of the endpoint and local teachers: two prompts, JSON replies."""

    def __init__(self, n: int):
        self.n = n

    def _complete(self, image_path: str | None, prompt: str, accept=None) -> str:  # pragma: no cover - abstract
        """The reply; ``accept(reply)`` says whether a cached teacher may store / replay it."""
        raise NotImplementedError

    def ask(self, item, image_path: str, user_caption: str | None, want_text: bool) -> TeacherResult:
        from ...endpoints import EndpointError

        try:
            want_caption = user_caption is None
            reply = self._complete(image_path, IMAGE_QA_PROMPT.format(n=self.n),
                                   accept=lambda text: _parses(text, want_caption))
            try:
                caption, turns = parse_qa(reply, want_caption=want_caption)
            except TeacherReplyError as err:
                return TeacherResult(False, reason="teacher_unparseable", message=f"image QA reply: {err}: {_clip(reply)}")
            caption = user_caption or caption
            text_turns = None
            if want_text:
                reply = self._complete(None, CAPTION_QA_PROMPT.format(n=self.n, caption=caption),
                                       accept=lambda text: _parses(text, False))
                try:
                    _, text_turns = parse_qa(reply, want_caption=False)
                except TeacherReplyError as err:
                    return TeacherResult(False, reason="teacher_unparseable",
                                         message=f"caption QA reply: {err}: {_clip(reply)}")
        except EndpointError as err:
            return TeacherResult(False, reason="teacher_error", message=str(err))
        return TeacherResult(True, caption, turns, text_turns)


def _parses(text: str, want_caption: bool) -> bool:
    """Whether a reply is usable: only those are cached, so a resumed run (or ``--retry-failed``) asks
    again instead of replaying a reply that was not the JSON asked for."""
    try:
        parse_qa(text, want_caption)
    except TeacherReplyError:
        return False
    return True


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "…"


class EndpointTeacher(_ChatTeacher):
    """A VLM behind an OpenAI-compatible chat endpoint (cached, retried, concurrent-safe)."""

    name = "endpoint"

    def __init__(self, n: int, cache_dir: str, model: str | None = None, base_url: str | None = None,
                 concurrency: int = 8, max_tokens: int = 1024, prefix: str = TEACHER_ENV_PREFIX):
        from ...endpoints import ChatClient, DiskCache, EndpointConfig

        super().__init__(n)
        overrides = {k: v for k, v in (("model", model), ("base_url", base_url)) if v}
        env = dict(os.environ)
        if model:
            env.setdefault(f"{prefix}_MODEL", model)  # from_env insists on a model; the override wins anyway
        self.config = EndpointConfig.from_env(prefix, env=env, **overrides)
        self.client = ChatClient(self.config, namespace=f"vsfa-teacher/{self.config.model}", cache=DiskCache(cache_dir),
                                 concurrency=concurrency)
        self.max_tokens = max_tokens

    @property
    def model(self) -> str:
        return self.config.model

    def _complete(self, image_path: str | None, prompt: str, accept=None) -> str:
        from ...endpoints import ChatRequest, image_part, user_message

        parts = ([image_part(image_path)] if image_path else []) + [prompt]
        request = ChatRequest([user_message(*parts)], {"max_tokens": self.max_tokens})
        return self.client.complete(request, accept=accept).content

    def close(self) -> None:
        self.client.close()


class LocalTeacher(_ChatTeacher):
    """A local transformers VLM (greedy decoding). Single-threaded: call from one thread."""

    name = "local"

    def __init__(self, n: int, model_path: str, max_new_tokens: int = 512, device: str | None = None):
        super().__init__(n)
        if not model_path or not os.path.isdir(model_path):
            raise RecordError(f"{model_path}: local teacher model folder not found (--teacher-model)")
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.processor = AutoProcessor.from_pretrained(model_path)
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.model_obj = AutoModelForImageTextToText.from_pretrained(model_path, dtype=dtype).to(self.device).eval()
        self.model = os.path.basename(os.path.normpath(model_path))
        self.max_new_tokens = max_new_tokens

    def _complete(self, image_path: str | None, prompt: str, accept=None) -> str:
        from PIL import Image

        content: list[dict[str, Any]] = [{"type": "image"}] if image_path else []
        content.append({"type": "text", "text": prompt})
        text = self.processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                                  tokenize=False)
        images = None
        if image_path:
            with Image.open(image_path) as im:
                images = [im.convert("RGB")]
        inputs = self.processor(text=[text], images=images, return_tensors="pt").to(self.device)
        with self.torch.no_grad():
            out = self.model_obj.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new = out[0, inputs["input_ids"].shape[1]:]
        return self.processor.batch_decode(new[None], skip_special_tokens=True)[0]

    def close(self) -> None:
        pass


__all__ = ["CAPTION_QA_PROMPT", "EndpointTeacher", "IMAGE_QA_PROMPT", "LocalTeacher", "ProceduralTeacher",
           "TeacherReplyError", "TeacherResult", "parse_qa"]
