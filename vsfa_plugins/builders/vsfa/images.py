"""Stage 2 of ``vsfa build-vsfa``: one PNG per item under ``<out>/images/<id>.png``.

Generators (``--t2i``):

* ``endpoint``  — an OpenAI-compatible images endpoint: ``POST {base}/images/generations`` with
  ``{"model", "prompt", "n": 1, "size": "WxH", "response_format": "b64_json"}``, reading
  ``data[0].b64_json`` (OpenAI's Images API; also served by e.g. LocalAI and vLLM-Omni-style servers).
  Configured from ``VSFA_T2I_BASE_URL`` / ``VSFA_T2I_MODEL`` / ``VSFA_T2I_API_KEY`` (the key is read from
  the environment when a request is sent, never stored). Sent through :class:`vsfa_plugins.endpoints.HttpClient`,
  the one HTTP client of the project: its retries (429 / 408 / 409 / 425 / 5xx / timeouts / connection
  errors, honouring ``Retry-After``), total deadline, response size cap (64 MiB here: an image) and
  scrubbed error texts (no key, no ``user:password@``, no credential query parameter).
* ``diffusers`` — a local ``diffusers`` pipeline folder (``--diffusers-model``), seeded per item
  (``torch.Generator().manual_seed``). ``diffusers`` is not a dependency of this project: without it the
  stage stops with an error saying how to install it.
* ``procedural`` — :func:`.procedural.render` of the item's scene (demo/tests).
* the ``images`` source copies the user's pictures (decoded and re-saved as RGB PNG, so every dataset
  image has one format and one name scheme).

Every image is written to a temp file and renamed into place before its ``images.jsonl`` line is
appended, so a killed run never leaves a half-written picture that looks finished.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ...endpoints import EndpointConfig, EndpointError, HttpClient, canonical_json
from ...records import RecordError

T2I_ENV_PREFIX = "VSFA_T2I"


class ImageGenerationError(RuntimeError):
    """One item's picture could not be made (the item is rejected with reason ``image_error``)."""


def to_png(data: bytes | Any) -> tuple[bytes, int, int]:
    """Decode image bytes (or a PIL image) and re-encode as RGB PNG: ``(png bytes, width, height)``."""
    from PIL import Image, UnidentifiedImageError

    from .procedural import png_bytes

    if isinstance(data, (bytes, bytearray)):
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                image = im.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
            raise ImageGenerationError(f"not a readable image ({type(err).__name__}: {err})") from None
    else:
        image = data.convert("RGB")
    return png_bytes(image), image.width, image.height


# ------------------------------------------------------------------------------------------------------
# OpenAI-compatible images endpoint
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImagesConfig(EndpointConfig):
    """An :class:`~vsfa_plugins.endpoints.EndpointConfig` for ``{base}/images/generations``: longer
    timeout (a picture takes a while) and room for a base64 PNG in the answer."""

    timeout_s: float = 300.0
    max_response_bytes: int = 64 << 20
    route: str = "/images/generations"

    @classmethod
    def from_env(cls, prefix: str = T2I_ENV_PREFIX, model: str | None = None, base_url: str | None = None,
                 env: Mapping[str, str] | None = None) -> "ImagesConfig":
        env = os.environ if env is None else env
        base = base_url or env.get(f"{prefix}_BASE_URL")
        model = model or env.get(f"{prefix}_MODEL")
        if not base or not model:
            from ...endpoints import ConfigError

            raise ConfigError(f"the text-to-image endpoint is not configured: set {prefix}_BASE_URL and {prefix}_MODEL "
                              f"(and {prefix}_API_KEY if the server needs one), or use --t2i diffusers")
        key_env = f"{prefix}_API_KEY" if env.get(f"{prefix}_API_KEY") else None
        return cls(base_url=base, model=model, api_key_env=key_env)


def _b64_image(raw: bytes) -> bytes:
    """``data[0].b64_json`` of an Images API answer, decoded; ``ValueError`` when it is not there."""
    import json

    try:
        return base64.b64decode(json.loads(raw)["data"][0]["b64_json"], validate=True)
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise ValueError(f"{type(err).__name__}: {err}") from None


class ImagesClient:
    """``/images/generations`` through the project's one HTTP client (thread-safe)."""

    def __init__(self, config: ImagesConfig, concurrency: int = 4, sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self.http = HttpClient(config, sleep=sleep)  # one keep-alive connection per calling thread

    def close(self) -> None:
        self.http.close()

    def generate(self, prompt: str, size: int) -> bytes:
        body = canonical_json({"model": self.config.model, "prompt": prompt, "n": 1, "size": f"{size}x{size}",
                               "response_format": "b64_json"}).encode("utf-8")
        try:
            return self.http.post(body, _b64_image)[0]
        except EndpointError as err:  # already scrubbed of the key and of URL credentials
            raise ImageGenerationError(str(err)) from None


# ------------------------------------------------------------------------------------------------------
# local diffusers pipeline
# ------------------------------------------------------------------------------------------------------


class DiffusersGenerator:
    """A local ``diffusers`` text-to-image pipeline, loaded once; one seeded generator per item."""

    def __init__(self, model_path: str, steps: int = 30, device: str | None = None):
        try:
            import diffusers  # type: ignore[import-not-found]
        except ImportError:
            raise RecordError(
                "--t2i diffusers needs the 'diffusers' package, which vsfa-plugins does not install: "
                "`pip install diffusers` (with a torch build for your GPU), or use --t2i endpoint"
            ) from None
        import torch

        if not model_path or not os.path.isdir(model_path):
            raise RecordError(f"{model_path}: diffusers model folder not found (--diffusers-model)")
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.float16 if self.device == "cuda" else torch.float32
        self.pipe = diffusers.DiffusionPipeline.from_pretrained(model_path, torch_dtype=dtype).to(self.device)
        self.steps = steps

    def generate(self, prompt: str, size: int, seed: int):
        generator = self.torch.Generator(device="cpu").manual_seed(seed)
        result = self.pipe(prompt=prompt, height=size, width=size, num_inference_steps=self.steps, generator=generator)
        return result.images[0]


def item_seed(seed: int, item_id: str) -> int:
    """A per-item 63-bit seed: independent of order, concurrency and resumption."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{item_id}".encode()).digest()[:8], "big") >> 1


__all__ = ["DiffusersGenerator", "ImageGenerationError", "ImagesClient", "ImagesConfig", "item_seed", "to_png"]
