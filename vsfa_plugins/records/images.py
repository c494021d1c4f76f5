"""The image checker: resolves a row's image paths and checks the files behind them."""

from __future__ import annotations

import os
from typing import Any, Iterable

from .errors import BadRow, RecordError, reason_of, where
from .reader import Location

IMAGE_CHECKS = ("none", "exists", "header", "decode")
IMAGE_PATH_MODES = ("absolute", "relative", "source")


class ImageChecker:
    """Resolves and checks a row's image paths; remembers what it already checked.

    ``check``: ``none`` (resolve only) | ``exists`` | ``header`` (the default: the file starts with a
    PNG/JPEG/GIF/BMP/WebP/TIFF signature, else PIL must identify it — catches empty, garbage and non-image
    files at ~15 µs per image) | ``decode`` (PIL decodes every pixel: also catches truncated images).
    ``path_mode`` says what the output row holds: ``absolute`` resolved paths; ``relative`` to the output
    folder (a path that would climb out with ``..`` is refused unless ``allow_escape``, since training
    would then need ``VSFA_ALLOW_PATH_ESCAPE=1``); ``source`` the path as written in the source (train
    with ``media_dir`` = the image root).
    """

    def __init__(self, roots: Iterable[str], check: str = "header", path_mode: str = "absolute",
                 out_dir: str | None = None, allow_escape: bool = False):
        from ..records import MediaResolver

        if check not in IMAGE_CHECKS:
            raise ValueError(f"check must be one of {IMAGE_CHECKS}")
        if path_mode not in IMAGE_PATH_MODES:
            raise ValueError(f"path_mode must be one of {IMAGE_PATH_MODES}")
        self.roots = [os.path.abspath(r) for r in roots if r]
        self.check = check
        self.path_mode = path_mode
        self.out_dir = os.path.abspath(out_dir) if out_dir else None
        self.allow_escape = allow_escape
        self._resolver = MediaResolver(self.roots, allow_escape=allow_escape, check_exists=check != "none")
        self._seen: dict[str, str | None] = {}  # resolved path -> error text (None: fine)
        self._resolved: dict[str, tuple] = {}  # path as written -> (resolved, None, None) | (None, reason, error)

    _WHERE = "\x00"

    def _check(self, image: str) -> tuple:
        """``(resolved, None, None)`` or ``(None, reason, error text without the row prefix)``; cached."""
        hit = self._resolved.get(image)
        if hit is not None:
            return hit
        try:
            resolved = self._resolver.resolve(image, self._WHERE)
        except RecordError as err:
            result = (None, reason_of(err), str(err).replace(self._WHERE + ": ", "", 1))
        else:
            problem = self._inspect(resolved)
            result = (resolved, None, None) if problem is None else (None, "corrupt_image", problem)
        self._resolved[image] = result
        return result

    def prefetch(self, images: Iterable[str], threads: int = 8) -> None:
        """Check many paths at once with a few threads (image checks wait on the disk, not the CPU)."""
        todo = list(dict.fromkeys(p for p in images if p not in self._resolved))
        if len(todo) < 32 or self.check == "none":
            for p in todo:
                self._check(p)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=threads) as pool:
            for p, result in zip(todo, pool.map(self._check, todo)):
                self._resolved[p] = result

    def output_paths(self, images: list[str], loc: Location, row_id: Any) -> list[str]:
        """Check every image of a row; return the paths to write. Raises :class:`BadRow`."""
        out = []
        for image in images:
            resolved, reason, problem = self._check(image)
            if resolved is None:
                raise BadRow(f"{where(loc, row_id)}: {problem}", reason, loc, row_id)
            if self.path_mode == "absolute":
                out.append(resolved)
            elif self.path_mode == "source":
                out.append(image)
            else:
                rel = os.path.relpath(resolved, self.out_dir)
                if (rel == ".." or rel.startswith(".." + os.sep)) and not self.allow_escape:
                    raise BadRow(
                        f"{where(loc, row_id)}: image {resolved} is outside the output folder, so a relative path "
                        f"would climb out with '..' (refused when training unless VSFA_ALLOW_PATH_ESCAPE=1); use "
                        f"--image-paths absolute or source, or --allow-path-escape", "path_escape", loc, row_id)
                out.append(rel)
        return out

    def _inspect(self, path: str) -> str | None:
        if self.check in ("none", "exists"):
            return None
        if path in self._seen:
            return self._seen[path]
        problem = None
        if self.check == "header":
            try:
                with open(path, "rb") as f:
                    head = f.read(16)
            except OSError as err:
                head, problem = b"", f"unreadable image {path} ({err})"
            if problem is None and not _known_image_header(head):
                problem = _pil_problem(path, decode=False)  # an unusual format: let PIL identify it
        else:
            problem = _pil_problem(path, decode=True)
        self._seen[path] = problem
        return problem


def _known_image_header(head: bytes) -> bool:
    """The file starts with the signature of a common image format (PNG, JPEG, GIF, BMP, WebP, TIFF)."""
    return (head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*"))
            or (head.startswith(b"BM") and len(head) >= 14)
            or (head.startswith(b"RIFF") and head[8:12] == b"WEBP"))


def _pil_problem(path: str, decode: bool) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if decode:
                im.load()
            if im.width <= 0 or im.height <= 0:
                return f"image has no pixels: {path}"
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        return f"corrupt or unreadable image {path} ({type(err).__name__}: {err})"
    return None
