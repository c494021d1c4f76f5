"""THE image checker: resolves a row's image paths and checks the files behind them.

Used alike by the builders (``--check-images``), ``vsfa validate``, the LLaMA-Factory pre-load validation
and converters, ``render-typographic`` and ``build-vsfa --images-dir``, so a file one of them refuses, all
refuse, with the same reason code:

* ``missing_image``   — no such file under any root;
* ``path_escape``     — a relative path that climbs out of its root with ``..``, or that resolves (through a
  symlink) to a file outside every root; allowed with ``allow_escape`` (``VSFA_ALLOW_PATH_ESCAPE=1``);
* ``corrupt_image``   — empty, not an image, a header that does not parse, or (checked cheaply) cut short;
* ``image_too_large`` — more pixels than ``VSFA_MAX_IMAGE_PIXELS`` (default :data:`DEFAULT_MAX_PIXELS`),
  read from the header *before* anything is decoded: a 1 KB file can claim 30000×30000 and make a decoder
  allocate gigabytes (a decompression bomb).
"""

from __future__ import annotations

import os
import stat
import struct
from typing import Any, Iterable

from .errors import BadRow, Location, RecordError, where

IMAGE_CHECKS = ("none", "exists", "header", "decode")
IMAGE_PATH_MODES = ("absolute", "relative", "source")

#: environment switch that allows image paths leading out of the dataset's folders (``..`` or a symlink)
ALLOW_ESCAPE_ENV = "VSFA_ALLOW_PATH_ESCAPE"
MAX_PIXELS_ENV = "VSFA_MAX_IMAGE_PIXELS"
#: PIL's own ``Image.MAX_IMAGE_PIXELS`` (1024·1024·1024 // 4 // 3). LLaMA-Factory (``mm_plugin``) and the
#: transformers processors open training images with plain ``Image.open`` and set no limit of their own,
#: so PIL warns above this and refuses above twice this: a bigger image would stop training mid-epoch.
DEFAULT_MAX_PIXELS = 89_478_485


def max_image_pixels() -> int:
    """The pixel limit: ``$VSFA_MAX_IMAGE_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip().replace("_", "").replace(",", "")
    if not raw:
        return DEFAULT_MAX_PIXELS
    if not raw.isdigit() or int(raw) <= 0:
        raise RecordError(f"{MAX_PIXELS_ENV} must be a positive whole number, got {os.environ[MAX_PIXELS_ENV]!r}",
                          "bad_setting")
    return int(raw)


def escape_allowed_by_env() -> bool:
    """``VSFA_ALLOW_PATH_ESCAPE`` is set (to anything but ``0``)."""
    return os.environ.get(ALLOW_ESCAPE_ENV, "") not in ("", "0")


class _Problem(Exception):
    def __init__(self, reason: str, text: str):
        self.reason, self.text = reason, text


class ImageChecker:
    """Resolves and checks image paths; remembers what it already checked (per path, thread-safe enough for
    :meth:`prefetch`).

    ``roots``: folders relative paths resolve against, in order (the dataset's folder, then ``media_dir``).
    ``check``: ``none`` (resolve only) | ``exists`` | ``header`` (the default: the header parses as an image
    — PNG, JPEG, GIF, BMP, WebP and netpbm read here, other formats identified by PIL without decoding —,
    its pixel count is within the limit, and the file is not cut short (end marker or declared size; when
    that test is not conclusive PIL decodes the file) — ~20 µs per image | ``decode`` (PIL decodes every
    pixel, after the same pixel-count check). ``path_mode`` says what :meth:`output_paths` returns:
    ``absolute`` resolved paths; ``relative`` to ``out_dir`` (a path that would climb out with ``..`` is
    refused unless ``allow_escape``, since training would then need ``VSFA_ALLOW_PATH_ESCAPE=1``); ``source``
    the path as written (train with ``media_dir`` = the image root).
    """

    def __init__(self, roots: Iterable[str], check: str = "header", path_mode: str = "absolute",
                 out_dir: str | None = None, allow_escape: bool = False, max_pixels: int | None = None):
        if check not in IMAGE_CHECKS:
            raise ValueError(f"check must be one of {IMAGE_CHECKS}")
        if path_mode not in IMAGE_PATH_MODES:
            raise ValueError(f"path_mode must be one of {IMAGE_PATH_MODES}")
        self.roots = list(dict.fromkeys(os.path.abspath(r) for r in roots if r))
        self.check = check
        self.path_mode = path_mode
        self.out_dir = os.path.abspath(out_dir) if out_dir else None
        self.allow_escape = allow_escape
        self.max_pixels = max_pixels or max_image_pixels()
        self._real_roots = [os.path.realpath(r) for r in self.roots]
        self._real_dirs: dict[str, str] = {}
        self._seen: dict[str, tuple | None] = {}  # resolved path -> (reason, text) | None (fine)
        self._resolved: dict[str, tuple] = {}  # path as written -> (resolved, None, None) | (None, reason, text)

    # ---------------------------------------------------------------------------------------------
    # the checks
    # ---------------------------------------------------------------------------------------------

    def _check(self, image: str) -> tuple:
        """``(resolved, None, None)`` or ``(None, reason, error text without the row prefix)``; cached."""
        hit = self._resolved.get(image)
        if hit is not None:
            return hit
        try:
            resolved = self._resolve(image)
            if self.check in ("header", "decode"):
                problem = self._seen.get(resolved, False)
                if problem is False:
                    problem = self._seen[resolved] = self._inspect(resolved)
                if problem is not None:
                    raise _Problem(*problem)
        except _Problem as p:
            result = (None, p.reason, p.text)
        else:
            result = (resolved, None, None)
        self._resolved[image] = result
        return result

    def _resolve(self, path: str) -> str:
        if os.path.isabs(path):  # as written: the user named the file
            if self.check != "none" and not _is_file(path):
                raise _Problem("missing_image", f"image not found: {path}")
            return path
        norm = os.path.normpath(path)
        if (norm == ".." or norm.startswith(".." + os.sep)) and not self.allow_escape:
            raise _Problem("path_escape", f"image path {path!r} climbs out of the dataset root with '..'; move the "
                                          f"image under the dataset folder or media_dir, or set "
                                          f"VSFA_ALLOW_PATH_ESCAPE=1 to allow it")
        if self.check == "none":
            if not self.roots:
                raise _Problem("missing_image", f"image {path!r} is relative but there is no root to resolve it against")
            return os.path.normpath(os.path.join(self.roots[0], norm))
        tried = []
        for root in self.roots:
            candidate = os.path.normpath(os.path.join(root, norm))
            kind = _is_file(candidate)
            if kind:
                if not self.allow_escape:
                    self._check_inside(path, candidate, kind == "link")
                return candidate
            tried.append(candidate)
        raise _Problem("missing_image", f"image not found: {path!r} (tried {', '.join(tried) or 'no root'})")

    def _check_inside(self, path: str, candidate: str, is_link: bool) -> None:
        """A relative path must not lead, through a symlinked file or folder, outside every root."""
        if is_link:
            real = os.path.realpath(candidate)
        else:  # folders are few: their real paths are cached, so a plain file costs no extra system call
            folder, name = os.path.split(candidate)
            real_dir = self._real_dirs.get(folder)
            if real_dir is None:
                real_dir = self._real_dirs[folder] = os.path.realpath(folder)
            real = os.path.join(real_dir, name)
        for root in self._real_roots:
            if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
                return
        raise _Problem("path_escape", f"image path {path!r} resolves to {real}, outside the dataset folder"
                                      f"{'s' if len(self.roots) > 1 else ''} {', '.join(self.roots)} (through a "
                                      f"symlink); move the image, add its folder as media_dir, or set "
                                      f"VSFA_ALLOW_PATH_ESCAPE=1 to allow it")

    def _inspect(self, path: str) -> tuple | None:
        try:
            inspect_image(path, self.max_pixels, decode=self.check == "decode")
        except _Problem as p:
            return p.reason, p.text
        return None

    # ---------------------------------------------------------------------------------------------
    # the API
    # ---------------------------------------------------------------------------------------------

    def resolve(self, image: str, where_text: str, row_id: Any = None, loc: Location | None = None) -> str:
        """The checked, resolved path of one image; :class:`BadRow` ``"<where_text>: …"`` with a reason."""
        resolved, reason, problem = self._check(image)
        if resolved is None:
            raise BadRow(f"{where_text}: {problem}", reason, loc, row_id)
        return resolved

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
            resolved = self.resolve(image, where(loc, row_id), row_id, loc)
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


class MediaResolver(ImageChecker):
    """The image checker resolving paths only: ``check_exists`` → mode ``exists``, else ``none``."""

    def __init__(self, roots: Iterable[str], allow_escape: bool = False, check_exists: bool = True):
        super().__init__(roots, "exists" if check_exists else "none", allow_escape=allow_escape)


def _is_file(path: str) -> str:
    """``"file"`` / ``"link"`` (a symlink to a regular file) / ``""`` — one ``lstat`` for a plain file."""
    try:
        st = os.lstat(path)
    except OSError:
        return ""
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISLNK(st.st_mode):
        return "link" if os.path.isfile(path) else ""
    return ""


# --------------------------------------------------------------------------------------------------
# one image file: size from the header, completeness, decoding
# --------------------------------------------------------------------------------------------------

#: the first read of a file: PNG/GIF/BMP/WebP headers, and most JPEGs' segments up to the frame header
_HEAD = 1024


def inspect_image(path: str, max_pixels: int, decode: bool = False) -> tuple[int, int]:
    """``(width, height)`` of an image file whose pixel count is within ``max_pixels``; raises ``_Problem``.

    The size comes from the header without decoding. Without ``decode`` the file must also look complete
    (PNG ``IEND``, JPEG ``EOI``, GIF trailer, BMP / WebP / netpbm declared size); when that test fails or
    cannot tell, PIL decodes the file to decide."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise _Problem("corrupt_image", f"corrupt or unreadable image {path} (the file is empty)")
            head = f.read(_HEAD)
            kind, dims, complete = _parse_header(head, f, size)
    except FileNotFoundError:
        raise _Problem("missing_image", f"image not found: {path}") from None
    except OSError as err:
        raise _Problem("corrupt_image", f"corrupt or unreadable image {path} ({err.strerror or err})") from None
    if dims is None:  # a format not parsed here: PIL identifies it from its header, decoding nothing
        dims = _pil_size(path, max_pixels)
        complete = True  # (rare formats: not decoded in header mode, so the check stays cheap)
    width, height = dims
    if width <= 0 or height <= 0:
        raise _Problem("corrupt_image", f"corrupt or unreadable image {path} ({kind or 'image'} header says "
                                        f"{width}×{height})")
    if width * height > max_pixels:
        raise _Problem("image_too_large", f"image {path} has {width}×{height} pixels, more than the limit "
                                          f"{max_pixels:,} ({MAX_PIXELS_ENV}); a decoder would allocate "
                                          f"{width * height * 3 / 2**30:.1f} GiB for it")
    if decode or not complete:
        _pil_decode(path, max_pixels)
    return width, height


def load_image(path: str, where_text: str, max_pixels: int | None = None):
    """The image at ``path`` decoded (a loaded PIL image), after the header check; :class:`RecordError`
    ``"<where_text>: …"`` with a reason for a missing, corrupt or too large file."""
    limit = max_pixels or max_image_pixels()
    try:
        inspect_image(path, limit, decode=False)
        with _open_pil(path, limit) as im:
            im.load()
            return im.copy()
    except _Problem as p:
        raise RecordError(f"{where_text}: {p.text}", p.reason) from None
    except FileNotFoundError:
        raise RecordError(f"{where_text}: image not found: {path}", "missing_image") from None
    except Exception as err:  # a hostile file can make a decoder raise anything
        raise RecordError(f"{where_text}: corrupt or unreadable image {path} ({type(err).__name__}: {err})",
                          "corrupt_image") from None


def _open_pil(path: str, max_pixels: int):
    from PIL import Image

    try:
        return Image.open(path)
    except Image.DecompressionBombError as err:  # PIL's own limit (twice Image.MAX_IMAGE_PIXELS) applies too
        raise _Problem("image_too_large", f"image {path} has more pixels than PIL accepts ({err}); the limit here "
                                          f"is {max_pixels:,} ({MAX_PIXELS_ENV})") from None


def _pil_size(path: str, max_pixels: int) -> tuple[int, int]:
    try:
        with _open_pil(path, max_pixels) as im:
            return im.size
    except _Problem:
        raise
    except Exception as err:  # UnidentifiedImageError and whatever a hostile header makes a plugin raise
        raise _Problem("corrupt_image", f"corrupt or unreadable image {path} (not an image: {type(err).__name__}: "
                                        f"{err})") from None


def _pil_decode(path: str, max_pixels: int) -> None:
    try:
        with _open_pil(path, max_pixels) as im:
            im.load()
    except _Problem:
        raise
    except Exception as err:
        raise _Problem("corrupt_image", f"corrupt or unreadable image {path} ({type(err).__name__}: {err})") from None


def _tail(f, size: int, n: int = 32) -> bytes:
    f.seek(max(0, size - n))
    return f.read(n)


def _parse_header(head: bytes, f, size: int) -> tuple[str, tuple[int, int] | None, bool | None]:
    """``(format, (width, height) or None, complete?)``; raises ``_Problem`` for a header that cannot be an
    image of its own format. ``None`` size: a format not parsed here."""
    try:
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            if head[12:16] != b"IHDR":
                raise _Problem("corrupt_image", f"corrupt or unreadable image {f.name} (PNG without IHDR)")
            w, h = struct.unpack(">II", head[16:24])
            return "PNG", (w, h), _tail(f, size).endswith(b"IEND\xaeB`\x82")
        if head.startswith(b"\xff\xd8\xff"):
            return "JPEG", _jpeg_size(head, f), _tail(f, size).rstrip(b"\x00\r\n ").endswith(b"\xff\xd9")
        if head.startswith((b"GIF87a", b"GIF89a")):
            return "GIF", struct.unpack("<HH", head[6:10]), _tail(f, size).rstrip(b"\x00").endswith(b";")
        if head.startswith(b"BM") and len(head) >= 26:
            declared, offset, dib = struct.unpack("<I4xII", head[2:18])
            if dib == 12:
                w, h = struct.unpack("<HH", head[18:22])
            else:
                w, h = struct.unpack("<ii", head[18:26])
            return "BMP", (w, abs(h)), size >= max(declared, offset + 1)
        if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
            return "WebP", _webp_size(head), size >= struct.unpack("<I", head[4:8])[0] + 8
        if len(head) > 2 and head[:1] == b"P" and head[1:2] in b"123456" and head[2:3] in b" \t\r\n#":
            return _netpbm(head, f, size)
    except struct.error:
        raise _Problem("corrupt_image", f"corrupt or unreadable image {f.name} (header cut short)") from None
    return "", None, None


def _jpeg_size(head: bytes, f) -> tuple[int, int]:
    """Walk the JPEG segments to the frame header (SOFn) — bounded; within ``head`` when it holds them,
    else reading a few bytes per segment."""
    pos = 2
    for _ in range(4096):
        if pos + 9 <= len(head):
            seg = head[pos:pos + 9]
        else:
            f.seek(pos)
            seg = f.read(9)
        if len(seg) < 4 or seg[0] != 0xFF:
            break
        marker = seg[1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD8 or marker == 0x01 or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", seg[5:9])
            return w, h
        length = struct.unpack(">H", seg[2:4])[0]
        if length < 2:
            break
        pos += 2 + length
    raise _Problem("corrupt_image", f"corrupt or unreadable image {f.name} (JPEG without a frame header)")


def _webp_size(head: bytes) -> tuple[int, int]:
    chunk = head[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
    if chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        return int.from_bytes(head[26:28], "little") & 0x3FFF, int.from_bytes(head[28:30], "little") & 0x3FFF
    raise struct.error("unknown WebP chunk")


def _netpbm(head: bytes, f, size: int) -> tuple[str, tuple[int, int], bool]:
    """PBM / PGM / PPM: ``P<n>``, width, height (and maxval but for P1/P4), ``#`` comments, whitespace."""
    f.seek(0)
    data = f.read(1024)
    magic = data[1] - ord("0")
    want = 3 if magic in (1, 4) else 4
    tokens, i = [], 0
    while len(tokens) < want and i < len(data):
        c = data[i:i + 1]
        if c == b"#":
            j = data.find(b"\n", i)
            i = len(data) if j < 0 else j + 1
        elif c.isspace():
            i += 1
        else:
            j = i
            while j < len(data) and not data[j:j + 1].isspace() and data[j:j + 1] != b"#":
                j += 1
            tokens.append(data[i:j])
            i = j
    if len(tokens) < want or not all(t.isdigit() for t in tokens[1:]):
        raise _Problem("corrupt_image", f"corrupt or unreadable image {f.name} (netpbm header does not parse)")
    w, h = int(tokens[1]), int(tokens[2])
    complete = True
    if magic in (4, 5, 6):  # binary: the pixel data has a known size after one whitespace byte
        channels = 3 if magic == 6 else 1
        depth = 2 if magic != 4 and int(tokens[3]) > 255 else 1
        need = ((w + 7) // 8) * h if magic == 4 else w * h * channels * depth
        complete = size - (i + 1) >= need
    return "netpbm", (w, h), complete


__all__ = ["ALLOW_ESCAPE_ENV", "DEFAULT_MAX_PIXELS", "escape_allowed_by_env", "IMAGE_CHECKS", "IMAGE_PATH_MODES", "ImageChecker", "MAX_PIXELS_ENV", "MediaResolver",
           "inspect_image", "load_image", "max_image_pixels"]
