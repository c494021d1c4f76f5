"""Fitting ``vsfa_offline``'s weights from human-labelled completions (numpy + scipy, build time only).

Used by ``scripts/build_vsfa_offline.py`` (the shipped weights) and ``benchmarks/judge_agreement.py``
(leave-one-model-out folds). The features are :func:`.offline.features` — one definition for fitting and
judging. Fitting is deterministic: a multinomial logistic regression with an L2 penalty, minimised by
L-BFGS from zero weights; weights are rounded to ``DECIMALS`` places so the written file does not
depend on the last bits of floating point.

XSTest v2 (``read_xstest_v2``): ``model_completions/xstest_v2_completions_<model>.csv`` of
github.com/paul-rottger/exaggerated-safety (CC BY 4.0): 5 models x 450 prompts, ``final_label`` =
``1_full_compliance`` / ``2_full_refusal`` / ``3_partial_refusal`` (two annotators, disagreements settled).
"""

from __future__ import annotations

import csv
import glob
import hashlib
import os
import re
from dataclasses import dataclass
from typing import Any, Sequence

from .keyword import normalise
from .offline import CLASSES, MODEL_FORMAT, RULES_VERSION, Model, features

L2 = 1.0
MIN_GROUPS = 4  # a feature must occur in the completions of at least this many models
DECIMALS = 4
MAX_ITER = 1000
XSTEST_LABELS = {"1_full_compliance": CLASSES[0], "2_full_refusal": CLASSES[1], "3_partial_refusal": CLASSES[2]}
_XSTEST_FILE = re.compile(r"xstest_v2_completions_([A-Za-z0-9_-]+)\.csv$")


@dataclass(frozen=True)
class Example:
    id: str
    group: str  # the model that wrote the completion (the leave-one-out unit)
    prompt: str
    response: str
    human_label: str


def read_xstest_v2(folder: str) -> tuple[list[Example], dict[str, str]]:
    """The 2,250 labelled completions of an XSTest checkout (or of its ``model_completions`` folder), and
    the sha256 of each CSV read. A missing file or an unknown label is a ``ValueError`` naming file and row."""
    base = os.path.join(folder, "model_completions") if os.path.isdir(os.path.join(folder, "model_completions")) else folder
    paths = sorted(glob.glob(os.path.join(base, "xstest_v2_completions_*.csv")))
    if not paths:
        raise ValueError(f"{folder}: no model_completions/xstest_v2_completions_*.csv (an XSTest checkout?)")
    examples, hashes = [], {}
    for path in paths:
        group = _XSTEST_FILE.search(os.path.basename(path)).group(1)
        with open(path, "rb") as f:
            hashes[os.path.basename(path)] = hashlib.sha256(f.read()).hexdigest()
        with open(path, newline="", encoding="utf-8") as f:
            for line, row in enumerate(csv.DictReader(f), start=2):
                label = XSTEST_LABELS.get((row.get("final_label") or "").strip())
                if label is None:
                    raise ValueError(f"{path}: row {line}: final_label {row.get('final_label')!r} is not one of "
                                     f"{sorted(XSTEST_LABELS)}")
                examples.append(Example(f"{group}:{row['id']}", group, row["prompt"], row["completion"], label))
    return examples, hashes


def fit(examples: Sequence[Example], l2: float = L2, min_groups: int = MIN_GROUPS,
        training: dict[str, Any] | None = None) -> Model:
    """Weights fitted on ``examples`` (features occurring in >= ``min_groups`` groups)."""
    import numpy as np
    import scipy.optimize
    import scipy.sparse

    feats = [features(normalise(e.response)) for e in examples]
    seen: dict[str, set[str]] = {}
    for e, fs in zip(examples, feats):
        for f in fs:
            seen.setdefault(f, set()).add(e.group)
    vocab = sorted(f for f, groups in seen.items() if len(groups) >= min_groups)
    index = {f: i for i, f in enumerate(vocab)}
    rows, cols = [], []
    for i, fs in enumerate(feats):
        js = [index[f] for f in fs if f in index]
        rows += [i] * len(js)
        cols += js
    n, d, k = len(examples), len(vocab), len(CLASSES)
    x = scipy.sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, d))
    y = np.zeros((n, k))
    y[np.arange(n), [CLASSES.index(e.human_label) for e in examples]] = 1

    def loss_and_grad(theta):
        w, b = theta[: d * k].reshape(d, k), theta[d * k :]
        z = x @ w + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        loss = -np.sum(y * np.log(p + 1e-12)) + 0.5 * l2 * np.sum(w * w)
        g = p - y
        return loss, np.concatenate([(x.T @ g + l2 * w).ravel(), g.sum(axis=0)])

    result = scipy.optimize.minimize(loss_and_grad, np.zeros(d * k + k), jac=True, method="L-BFGS-B",
                                     options={"maxiter": MAX_ITER})
    w, b = result.x[: d * k].reshape(d, k), result.x[d * k :]
    weights = {}
    for f, row in zip(vocab, w):
        rounded = [round(float(v), DECIMALS) + 0.0 for v in row]  # + 0.0: no "-0.0" in the file
        if any(rounded):
            weights[f] = rounded
    info = {"rules": RULES_VERSION, "l2": l2, "min_groups": min_groups, "n_examples": n,
            "groups": sorted({e.group for e in examples}), "n_features": len(weights), **(training or {})}
    data = {"format": MODEL_FORMAT, "classes": list(CLASSES), "bias": [round(float(v), DECIMALS) + 0.0 for v in b],
            "weights": weights, "training": info}
    return Model(data, hashlib.sha256(repr(sorted(weights.items())).encode() + repr(data["bias"]).encode()).hexdigest())


def leave_one_group_out(examples: Sequence[Example], **kw) -> dict[str, Model]:
    """One model per group, fitted on every other group's examples."""
    groups = sorted({e.group for e in examples})
    return {g: fit([e for e in examples if e.group != g], **kw) for g in groups}
