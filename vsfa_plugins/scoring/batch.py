"""``judge_many``: one entry point to judge a batch of rows with any registered judge.

Keyword judges run in-process; LLM judges run concurrently against the configured endpoint with the
on-disk cache (:mod:`.llm`); the local models batch generation (:mod:`.local`, :mod:`.harmbench`; cached in ``cache_dir`` where the
judge supports it).
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Sequence

from .verdict import LLM, LOCAL, Verdict, get_judge, get_judge_info

Row = tuple  # (prompt, response) or (prompt, response, meta)


def judge_many(
    judge_id: str,
    rows: Iterable[Row],
    *,
    concurrency: int = 16,
    cache_dir: str | os.PathLike | None = None,
    config: Any = None,
    progress: bool | None = None,
) -> list[Verdict]:
    """Verdicts for ``rows`` in input order. ``cache_dir`` / ``config`` / ``concurrency`` matter for LLM
    judges (and ``cache_dir`` for ``harmbench_cls``) only (``config``: an :class:`~vsfa_plugins.endpoints.EndpointConfig`, default from the
    environment)."""
    judge = get_judge(judge_id)
    info = get_judge_info(judge_id)
    normalised = [_as_row(row) for row in rows]
    if info.kind == LLM:
        from .llm import judge_many_llm

        return judge_many_llm(
            judge_id, normalised, concurrency=concurrency, cache_dir=cache_dir, config=config, progress=progress
        )
    if info.kind == LOCAL:
        from .local import judge_many_local

        return judge_many_local(judge_id, normalised, cache_dir=cache_dir)
    return [judge(prompt, response, meta) for prompt, response, meta in normalised]


def _as_row(row: Row) -> tuple[str, Any, Mapping[str, Any]]:
    if len(row) == 2:
        return row[0], row[1], {}
    if len(row) == 3:
        return row[0], row[1], row[2] or {}
    raise ValueError(f"a row is (prompt, response) or (prompt, response, meta), got {len(row)} items")


__all__: Sequence[str] = ("judge_many",)
