"""``vsfa contamination``: are any training images near-duplicates of benchmark images?

Every image of a training dataset (a file in our ``vsfa`` / ``rejection_mix`` formats, LLaVA
``image``, sharegpt ``images`` — or a folder of images) and every image file under
``$VSFA_DATA_ROOT/<benchmark>/`` (the data root the benchmarks read, default ``~/.cache/vsfa/data``; each
top-level subfolder is one benchmark: ``mm-safetybench``,
``figstep``, ``vlguard``, ``mossbench``, …) gets a perceptual hash (``imagehash.phash``, 64 bits at
``hash_size=8``). A pair whose Hamming distance is ``<= threshold`` is reported. The report (JSON) lists
the pairs (with the dataset rows that use the training image) and, per benchmark, the number of images,
unreadable images, pairs and images involved; :meth:`ContaminationReport.table` prints the same as a
table. Unreadable or missing images are listed, never fatal. Deterministic: same inputs, same report.

Needs the ``imagehash`` package (``pip install imagehash``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable

from ..benchmarks.release import DATA_ROOT_ENV
from ..benchmarks.release import data_root as default_data_root
from ..records import MediaResolver, RecordError
from ..io import atomic_write_text, check_output_path, dumps_document, progress
from ..records.scan import scan_rows
from .outputs import TOOL

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
#: at most this many dataset rows are named per training image in a pair
MAX_ROWS_PER_IMAGE = 5


def phash_bits(path: str, hash_size: int = 8) -> tuple[bytes | None, str | None]:
    """``(packed hash bits, None)`` or ``(None, error text)`` for an unreadable image."""
    import numpy as np
    from PIL import Image

    try:
        import imagehash
    except ImportError as err:  # pragma: no cover - install hint
        raise RecordError("vsfa contamination needs the 'imagehash' package: pip install imagehash") from err
    try:
        with Image.open(path) as im:
            h = imagehash.phash(im, hash_size=hash_size)
    except Exception as err:  # PIL raises many types for corrupt files; each is reported, none is fatal
        return None, f"{type(err).__name__}: {err}"
    return np.packbits(np.asarray(h.hash, dtype=bool).reshape(-1)).tobytes(), None


def _hash_job(args: tuple[str, int]) -> tuple[bytes | None, str | None]:
    return phash_bits(*args)


def hash_images(paths: list[str], hash_size: int, workers: int = 1, desc: str = "hash") -> list:
    """Hash ``paths`` (in order), with ``workers`` processes; a progress bar on a terminal."""
    jobs = [(p, hash_size) for p in paths]
    if workers <= 1 or len(paths) < 64:
        return [phash_bits(p, hash_size) for p in progress(paths, total=len(paths), desc=desc, unit="img")]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(progress(pool.map(_hash_job, jobs, chunksize=64), total=len(jobs), desc=desc, unit="img"))


def hamming_pairs(a: list[bytes], b: list[bytes], threshold: int, chunk: int = 2048) -> list[tuple[int, int, int]]:
    """All ``(i, j, distance)`` with ``distance(a[i], b[j]) <= threshold`` (numpy, chunked)."""
    import numpy as np

    if not a or not b:
        return []
    A = np.frombuffer(b"".join(a), dtype=np.uint8).reshape(len(a), -1)
    B = np.frombuffer(b"".join(b), dtype=np.uint8).reshape(len(b), -1)
    out = []
    for s in range(0, len(A), chunk):
        d = np.bitwise_count(A[s:s + chunk, None, :] ^ B[None, :, :]).sum(axis=-1, dtype=np.int32)
        ii, jj = np.nonzero(d <= threshold)
        out.extend((int(i) + s, int(j), int(d[i, j])) for i, j in zip(ii, jj))
    return out


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def walk_images(folder: str) -> list[str]:
    """Image files under ``folder`` (recursively, hidden entries skipped), sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(os.path.join(dirpath, f) for f in filenames if _is_image(f))
    return sorted(found)


def dataset_images(dataset: str, image_roots: Iterable[str] | None = None, allow_escape: bool = False
                   ) -> tuple[dict[str, list[str]], list[dict]]:
    """``{resolved image path: [row refs]}`` of a dataset file (or folder), and the problems met
    (unresolvable paths, bad rows) as ``{"where", "path", "error"}``; nothing raises but an unreadable
    JSON array."""
    images: dict[str, list[str]] = {}
    problems: list[dict] = []
    if os.path.isdir(dataset):
        for p in walk_images(dataset):
            images[os.path.abspath(p)] = [os.path.relpath(p, dataset)]
        return images, problems
    roots = list(image_roots) if image_roots else [os.path.dirname(os.path.abspath(dataset))]
    resolver = MediaResolver(roots, allow_escape=allow_escape, check_exists=True)
    for scanned in progress(scan_rows(dataset), desc="dataset rows"):
        ref = f"{scanned.path}:{scanned.line} (row {scanned.row})"
        if scanned.error is not None:
            problems.append({"where": ref, "path": None, "error": str(scanned.error)})
            continue
        obj = scanned.obj
        if not isinstance(obj, dict):
            problems.append({"where": ref, "path": None, "error": "a row must be a JSON object"})
            continue
        if obj.get("id") is not None:
            ref += f" (id={obj.get('id')})"
        raw = obj.get("images")
        if raw is None:
            raw = obj.get("image")
        if raw is None:
            continue
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not all(isinstance(p, str) and p for p in raw):
            problems.append({"where": ref, "path": None, "error": "'image'/'images' is not a path or a list of paths"})
            continue
        for p in raw:
            try:
                resolved = resolver.resolve(p, ref)
            except RecordError as err:
                problems.append({"where": ref, "path": p, "error": str(err)})
                continue
            images.setdefault(resolved, []).append(ref)
    return images, problems


@dataclass
class ContaminationReport:
    dataset: str
    data_root: str
    threshold: int
    hash_size: int
    train_images: int = 0
    train_problems: list = field(default_factory=list)
    benchmarks: dict = field(default_factory=dict)
    pairs: list = field(default_factory=list)

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    def to_dict(self) -> dict:
        return {
            "tool": TOOL, "hash": "phash", "hash_size": self.hash_size, "threshold": self.threshold,
            "dataset": {"path": self.dataset, "images": self.train_images, "problems": self.train_problems},
            "data_root": self.data_root, "benchmarks": self.benchmarks, "n_pairs": self.n_pairs, "pairs": self.pairs,
        }

    def to_json(self) -> str:
        return dumps_document(self.to_dict())

    def table(self) -> str:
        head = ("benchmark", "images", "unreadable", "pairs", "train imgs hit", "bench imgs hit")
        rows = [(name, b["images"], len(b["unreadable"]), b["pairs"], b["train_images_hit"], b["benchmark_images_hit"])
                for name, b in sorted(self.benchmarks.items())]
        rows.append(("TOTAL", sum(r[1] for r in rows), sum(r[2] for r in rows), sum(r[3] for r in rows),
                     len({p["train_image"] for p in self.pairs}), sum(r[5] for r in rows)))
        widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
        lines = ["  ".join(str(x).ljust(w) if k == 0 else str(x).rjust(w) for k, (x, w) in enumerate(zip(r, widths)))
                 for r in (head, *rows)]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(f"threshold: Hamming distance <= {self.threshold} on {self.hash_size * self.hash_size}-bit pHash; "
                     f"training images: {self.train_images} ({len(self.train_problems)} problems)")
        return "\n".join(lines) + "\n"


def check_contamination(
    dataset: str,
    data_root: str | None = None,
    benchmarks: Iterable[str] | None = None,
    image_roots: Iterable[str] | None = None,
    threshold: int = 4,
    hash_size: int = 8,
    workers: int = 1,
    report_path: str | None = None,
    allow_escape: bool = False,
) -> ContaminationReport:
    """Hash the dataset's images and each benchmark's images; report every pair within ``threshold``."""
    # the data root every benchmark reads (``$VSFA_DATA_ROOT``, default ``~/.cache/vsfa/data``)
    data_root = data_root or str(default_data_root())
    if not os.path.isdir(data_root):
        raise RecordError(f"{data_root}: benchmark data root not found (give --data-root or set {DATA_ROOT_ENV})")
    if threshold < 0:
        raise ValueError("threshold must be >= 0")
    if hash_size < 2:
        raise ValueError("hash_size must be >= 2")
    if not os.path.exists(dataset):
        raise RecordError(f"{dataset}: file not found")
    if report_path:
        check_output_path(report_path, [dataset], what="--report")
    data_root = os.path.abspath(data_root)
    names = sorted(d for d in os.listdir(data_root) if os.path.isdir(os.path.join(data_root, d)) and not d.startswith("."))
    if benchmarks:
        missing = sorted(set(benchmarks) - set(names))
        if missing:
            raise RecordError(f"{data_root}: no benchmark folder {', '.join(missing)} (found: {', '.join(names) or 'none'})")
        names = sorted(set(benchmarks))

    report = ContaminationReport(os.path.abspath(dataset), data_root, threshold, hash_size)
    images, problems = dataset_images(dataset, image_roots, allow_escape)
    train_paths = sorted(images)
    train_hashes = hash_images(train_paths, hash_size, workers, desc="hash training images")
    ok_train = [(p, h) for p, (h, _) in zip(train_paths, train_hashes) if h is not None]
    for p, (h, err) in zip(train_paths, train_hashes):
        if h is None:
            problems.append({"where": images[p][0], "path": p, "error": f"unreadable image: {err}"})
    report.train_images = len(train_paths)
    report.train_problems = problems

    for name in names:
        folder = os.path.join(data_root, name)
        bench_paths = walk_images(folder)
        bench_hashes = hash_images(bench_paths, hash_size, workers, desc=f"hash {name}")
        ok_bench = [(p, h) for p, (h, _) in zip(bench_paths, bench_hashes) if h is not None]
        unreadable = [{"path": os.path.relpath(p, data_root), "error": err}
                      for p, (h, err) in zip(bench_paths, bench_hashes) if h is None]
        found = hamming_pairs([h for _, h in ok_train], [h for _, h in ok_bench], threshold)
        pairs = [{"benchmark": name, "benchmark_image": os.path.relpath(ok_bench[j][0], data_root),
                  "train_image": ok_train[i][0], "distance": d, "rows": images[ok_train[i][0]][:MAX_ROWS_PER_IMAGE],
                  "rows_total": len(images[ok_train[i][0]])}
                 for i, j, d in found]
        pairs.sort(key=lambda p: (p["distance"], p["benchmark_image"], p["train_image"]))
        report.pairs.extend(pairs)
        report.benchmarks[name] = {
            "images": len(bench_paths), "unreadable": unreadable, "pairs": len(pairs),
            "train_images_hit": len({p["train_image"] for p in pairs}),
            "benchmark_images_hit": len({p["benchmark_image"] for p in pairs}),
        }
    if report_path:
        atomic_write_text(report_path, report.to_json())
    return report


__all__ = ["ContaminationReport", "check_contamination", "dataset_images", "hamming_pairs", "phash_bits", "walk_images"]
