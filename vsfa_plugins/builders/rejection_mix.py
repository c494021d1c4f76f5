"""``vsfa build-rejection-mix``: the recipe of "Do We Really Need Curated Malicious Data for Safety
Alignment in Multi-modal Large Language Models?" (Wang, Guan, Liang, He — CVPR 2025).

Benign instruction rows get the fixed reply "I'm sorry, but I cannot assist with your request"
(:data:`~vsfa_plugins.records.REFUSAL_SENTENCE`) and are mixed into normal instruction data. Output:
the ``rejection_mix`` format (rows with ``kind`` = ``rejection`` | ``instruct``; EOS after the refusal is
not trained, as in the paper's code).

The paper's released mixing script is ``utils/mix_rejection_data.py`` of github.com/ybwang119/MLLM_safety_study
(run there as ``--file1 <benign> --file2 <llava_v1_5_mix665k.json> --sample_size1 N --sample_size2 M
--change_reply --random_choose``). What it does, in order, all on one ``random`` stream seeded
``random.seed(0)`` at import:

1. ``json.load`` both files (every row needs an ``id``);
2. ``random.sample(file1, min(N, len(file1)))`` — the rows to turn into refusals;
3. ``random.sample([r for r in file2 if r['id'] not in ids_of_step_2], min(M, len(file2)))`` — the
   instruct rows, excluding every row whose *id* was picked in step 2 (LLaVA ids name the image, so no
   image appears both refused and answered);
4. for each row of step 2, in sample order: draw ``pick = random.choice(range(1, len(conv)//2 + 1))``
   until the pick's human turn does not contain ``"what about"`` (case-insensitive); keep that one
   human/gpt pair, remove ``"\\n<image>"`` from the question and put ``"<image>\\n"`` in front unless it
   already starts so;
5. replace that reply by the refusal; ``random.shuffle(step2 + step3)``; ``json.dump`` the list.

``compat="reference"`` selects exactly those rows (same seed, same sampling order, same id exclusion,
same turn draws and ``<image>`` placement, same final order): streaming, ``random.sample(range(n), k)``
consumes the generator exactly as ``random.sample(list_of_n, k)`` and picks the same positions. Rows are
written in our format (``kind`` added, ``id`` as a string and unique, ``image`` as an ``images`` list in
the chosen path mode). A text-only benign row keeps no ``<image>`` tag (the script would add one without
an image); ``stats.json`` counts such rows.

Bad input, both modes: pass 1 parses every row, so malformed JSON, non-UTF-8, a row that is not an object,
a bad id (reference: a missing id, which makes the script fail) are found wherever they are; the row
schema (roles, empty messages, ``<image>`` tags, image files) is checked for the rows drawn — like the
script, which only ever touches those; a bad row never drawn is counted as not selected. Each problem
stops the build naming ``file:line``; with ``skip_bad`` it goes to ``rejected.jsonl`` instead: rows
rejected in pass 1 are not drawn from (reference: the selection is then the script's on the file without
them), a drawn row that is bad is left out of the output (``stats.json`` notes the shortfall), and a drawn
benign row whose every turn says "what about" (the script would loop forever on it) gets no turn draw.

``compat="none"`` (default) is the same recipe made robust: benign rows without a stand-alone turn are
simply not candidates, the turn is drawn uniformly among turns that are not follow-ups (the paper's
"what about" rule plus a few openers such as "how about", "and what"), every ``<image>`` tag is removed
and one per image put in front, text-only rows are fine, ids are optional, asking for more rows than
there are is an error rather than silently fewer.

Both modes stream: pass 1 indexes each source's rows (byte range, id, validity) without keeping them;
the selection is drawn on indices; pass 2 reads only the selected rows back by offset.
"""

from __future__ import annotations

import os
import random
import re
from bisect import bisect_right
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..io import BackgroundHash, dumps_row, gc_paused, progress
from ..records import IMAGE_TAG, REFUSAL_SENTENCE, RecordError
from ..records.errors import BadRow, where
from ..records.images import ImageChecker
from ..records.reader import Location
from ..records.scan import read_row_at, scan_rows
from ..records.source import SourceRow, normalize_source_row, strip_image_tags, with_leading_tags
from ..io import plain_stem
from .outputs import BuildStats, Outputs, Rejects, check_outputs, dataset_info_entry

COMPAT_MODES = ("none", "reference")
DUPLICATE_ID_POLICIES = ("allow", "error")
FORMATTINGS = ("rejection_mix", "rejection_mix_keep_eos")

#: the paper's rule: a turn whose question contains this (case-insensitive) is never the refused prompt
PAPER_FOLLOW_UP = "what about"
#: in ``compat="none"`` also: questions opening like this only make sense after an earlier turn
FOLLOW_UP_OPENERS = ("how about", "and what", "and how", "and why", "and where", "and who", "what else",
                     "anything else")


_OPENER_RE = re.compile(r"\s*(?:" + re.escape(IMAGE_TAG) + r"\s*)*(?:"
                        + "|".join(re.escape(o) for o in FOLLOW_UP_OPENERS) + ")")


def is_follow_up(question: str) -> bool:
    """True for a question that only makes sense after an earlier turn (``compat="none"`` rule): it
    contains "what about" (the paper's rule) or opens (after any ``<image>`` tags) with one of
    :data:`FOLLOW_UP_OPENERS`; case-insensitive."""
    text = question.lower()
    return PAPER_FOLLOW_UP in text or _OPENER_RE.match(text) is not None


def paper_follow_up(question: str) -> bool:
    """The released script's test: ``"what about" in question.lower()``."""
    return PAPER_FOLLOW_UP in question.lower()


def eligible_turns(row: SourceRow, compat: str) -> list[int]:
    test = paper_follow_up if compat == "reference" else is_follow_up
    return [i for i, (q, _) in enumerate(row.turns) if not test(q)]


# --------------------------------------------------------------------------------------------------
# pass 1: index the sources
# --------------------------------------------------------------------------------------------------


class FileIndex:
    """Where each row of one source file is (byte range, line) and its id; nothing else is kept."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.rows = 0
        self.sha256 = ""
        self.starts = array("q")
        self.lengths = array("q")
        self.lines = array("q")
        self.ids: list = []
        self._fd = -1

    def pad(self, row: int) -> None:
        """Rows are stored by row index: rows rejected at a glance get a placeholder."""
        while len(self.starts) < row:
            self.starts.append(-1), self.lengths.append(0), self.lines.append(0), self.ids.append(None)

    def loc(self, row: int) -> Location:
        return Location(self.path, self.lines[row], row)

    def read(self, row: int) -> SourceRow:
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_RDONLY)
        loc = self.loc(row)
        try:
            obj = read_row_at(self._fd, self.starts[row], self.lengths[row])
        except ValueError as err:  # the file changed between the passes
            raise RecordError(f"{loc.path}:{loc.line}: the file changed while building ({err})") from None
        return normalize_source_row(obj, loc)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass
class Pool:
    """The rows one role can draw from: row indices into a :class:`FileIndex`, in file order."""

    role: str
    index: FileIndex
    members: array = field(default_factory=lambda: array("q"))
    not_candidates: int = 0  # good rows that cannot be drawn (benign rows without a stand-alone turn)

    def __len__(self) -> int:
        return len(self.members)

    @property
    def path(self) -> str:
        return self.index.path

    def row(self, k: int) -> int:
        return self.members[k]

    def id(self, k: int) -> Any:
        return self.index.ids[self.members[k]]

    def loc(self, k: int) -> Location:
        return self.index.loc(self.members[k])

    def read(self, k: int) -> SourceRow:
        return self.index.read(self.members[k])


#: a per-role check: (row object, scanned row) -> True (a candidate) | False (good, not a candidate);
#: raises BadRow for a row that is bad already at a glance
RoleCheck = Callable[[dict, Any], bool]


def index_sources(specs: list[tuple[str, str, RoleCheck]], rejects: Rejects, stats: BuildStats,
                  duplicate_ids: str = "allow", need_ids: bool = False) -> dict[str, Pool]:
    """Pass 1: scan each distinct file once (a file given in two roles is read once) and fill one
    :class:`Pool` per role.

    Every row is parsed (malformed JSON / non-UTF-8 is found anywhere in the file) and glanced at: it
    must be a JSON object with a usable id (``need_ids``: present); the role's check decides whether it
    is a candidate. The full row schema is checked when a row is drawn (pass 2), like the released script,
    which only ever touches the rows it draws. Bad rows raise, or are rejected (per role) with skip_bad.
    """
    pools: dict[str, Pool] = {}
    by_file: dict[str, list[tuple[str, str, RoleCheck]]] = {}
    for role, path, check in specs:
        by_file.setdefault(os.path.realpath(path), []).append((role, path, check))
    for real, group in by_file.items():
        index = FileIndex(group[0][1])
        for role, path, _ in group:
            pools[role] = Pool(role, index)
            stats.add_source(path, role, rows=0, sha256="")
        digest = BackgroundHash()
        seen = {role: {} for role, _, _ in group} if duplicate_ids == "error" else None
        size = os.path.getsize(real) if os.path.isfile(real) else None
        bar = progress(total=size, desc="index " + "+".join(role for role, _, _ in group), unit="B", unit_scale=True)
        done = 0
        # the hot loop of the whole build: bound methods, and no call at all for "every row" roles
        add_start, add_length, add_line, add_id = (index.starts.append, index.lengths.append, index.lines.append,
                                                   index.ids.append)
        last_row = -1
        simple = [pools[role].members.append for role, _, check in group if check is ALWAYS]
        checked = [(role, pools[role], check) for role, _, check in group if check is not ALWAYS]
        try:
            with gc_paused():
                for scanned in scan_rows(group[0][1], on_bytes=digest.update):
                    row_no = last_row = scanned.row
                    if row_no & 4095 == 0:
                        bar.update(scanned.start - done)
                        done = scanned.start
                    obj = scanned.obj
                    row_id = obj.get("id") if type(obj) is dict else None
                    if (scanned.error is not None or type(obj) is not dict or (row_id is None and need_ids)
                            or (row_id is not None and type(row_id) is not str and type(row_id) is not int)):
                        err = scanned.error or _glance_error(scanned, need_ids)
                        for role, _, _ in group:
                            rejects.handle(err, scanned.loc, None, role=role)
                        continue
                    if len(index.starts) != row_no:
                        index.pad(row_no)
                    add_start(scanned.start)
                    add_length(scanned.length)
                    add_line(scanned.line)
                    add_id(row_id)
                    if seen is None:
                        for append in simple:
                            append(row_no)
                    for role, pool, check in (checked if seen is None else [(r, pools[r], c) for r, _, c in group]):
                        try:
                            if seen is not None and row_id is not None:
                                first = seen[role].setdefault(row_id, row_no)
                                if first != row_no:
                                    raise BadRow(f"{where(scanned.loc, row_id)}: duplicate id {row_id!r} (first at "
                                                 f"{where(index.loc(first))}; ids must be unique with "
                                                 f"duplicate_ids='error')", "duplicate_id", scanned.loc, row_id)
                            if check is ALWAYS or check(obj, scanned):
                                pool.members.append(row_no)
                            else:
                                pool.not_candidates += 1
                        except BadRow as err:
                            rejects.handle(err, scanned.loc, row_id, role=role)
        finally:
            bar.close()
        index.rows = last_row + 1
        index.sha256 = digest.hexdigest()
        for role, _, _ in group:
            stats.source_done(role, index.rows, index.sha256)
    return pools


def ALWAYS(obj: dict, scanned) -> bool:
    """The role check of a role that can draw any row (instruct sources)."""
    return True


def _glance_error(scanned, need_ids: bool) -> BadRow:
    obj = scanned.obj
    if type(obj) is not dict:
        return BadRow(f"{where(scanned.loc)}: a row must be a JSON object, got {type(obj).__name__}", "not_an_object",
                      scanned.loc)
    row_id = obj.get("id")
    if row_id is None:
        return BadRow(f"{where(scanned.loc)}: no 'id' (the reference script needs one in every row)", "missing_id",
                      scanned.loc)
    return BadRow(f"{where(scanned.loc)}: 'id' must be a string or an integer, got {type(row_id).__name__}",
                  "bad_field", scanned.loc)


def first_question(obj: dict) -> str | None:
    """The first user message of a LLaVA/sharegpt row at a glance (``None`` when it is not that simple)."""
    conv = obj.get("conversations")
    key_role, key_text = "from", "value"
    if conv is None:
        conv, key_role, key_text = obj.get("messages"), "role", "content"
    if type(conv) is not list or not conv:
        return None
    first = conv[0]
    if type(first) is not dict or first.get(key_role) not in ("human", "user"):
        return None
    text = first.get(key_text)
    return text if type(text) is str else None


# --------------------------------------------------------------------------------------------------
# selection
# --------------------------------------------------------------------------------------------------


@dataclass
class Selection:
    rejection: list  # pool positions of the benign rows, in draw order
    instruct: list  # pool positions of the instruct rows, in draw order
    turns: list  # chosen turn index per rejection row (same order as ``rejection``)
    order: list  # final order: ("rejection" | "instruct", index into the lists above)


def select(benign: Pool, instruct: Pool, n_rejection: int, n_instruct: int, seed: int, compat: str,
           rejects: Rejects) -> Selection:
    """Draw the rows. One ``random.Random(seed)`` stream, in the released script's order: sample the
    benign rows, sample the instruct rows (ids of the picked benign rows excluded), draw one turn per
    benign row (reading only those rows), shuffle everything."""
    rng = random.Random(seed)
    if compat == "reference":
        k1 = min(n_rejection, len(benign))  # the script clamps to the file size
    else:
        k1 = n_rejection
        if k1 > len(benign):
            raise RecordError(
                f"{benign.path}: asked for {k1} rejection rows but only {len(benign)} benign rows can be drawn "
                f"({benign.not_candidates} more have no stand-alone turn)")
    picked = rng.sample(range(len(benign)), k1)

    excluded_ids = {benign.id(k) for k in picked if benign.id(k) is not None}
    same_file = benign.index is instruct.index
    excluded_rows = {benign.row(k) for k in picked} if same_file and compat != "reference" else set()
    ids, members = instruct.index.ids, instruct.members
    # positions (in the instruct pool) the exclusion removes, in order; the rest keep their order
    excluded = [j for j, r in enumerate(members) if ids[r] in excluded_ids or r in excluded_rows] \
        if excluded_ids or excluded_rows else []
    n_available = len(instruct) - len(excluded)
    if compat == "reference":
        k2 = min(n_instruct, len(instruct))  # clamped to the file, not to what is left after the exclusion
    else:
        k2 = n_instruct
    if k2 > n_available:
        raise RecordError(
            f"{instruct.path}: asked for {k2} instruct rows but only {n_available} are available "
            f"({len(excluded)} share an id with a picked benign row)")
    drawn = rng.sample(range(n_available), k2)
    # the t-th available position is t + (number of excluded positions before it)
    shifted = [e - i for i, e in enumerate(excluded)]
    chosen = [t + bisect_right(shifted, t) for t in drawn] if excluded else drawn

    # what the turn draw needs, read in file order (cheap on a cold page cache), used in draw order
    facts: dict[int, Any] = {}
    for k in sorted(set(picked)):
        try:
            row = benign.read(k)
            flags = [paper_follow_up(q) if compat == "reference" else is_follow_up(q) for q, _ in row.turns]
            if all(flags):
                what = ("every human turn contains 'what about' (the reference script would loop forever on this "
                        "row)") if compat == "reference" else "no stand-alone turn"
                raise BadRow(f"{where(benign.loc(k), row.id)}: {what}", "no_eligible_turn", benign.loc(k), row.id)
            facts[k] = (len(row.turns), flags)
        except BadRow as err:
            rejects.handle(err, benign.loc(k), benign.id(k), role="benign")
            facts[k] = None
    turns: list = []
    for k in picked:
        if facts[k] is None:  # rejected (skip_bad): no draw
            turns.append(None)
            continue
        n_turns, flags = facts[k]
        if compat == "reference":
            while True:  # the script's loop (it ends: the row has a usable turn)
                pick = rng.choice(range(1, n_turns + 1))
                if not flags[pick - 1]:
                    turns.append(pick - 1)
                    break
        else:
            turns.append(rng.choice([t for t, f in enumerate(flags) if not f]))
    order = [("rejection", i) for i in range(len(picked))] + [("instruct", i) for i in range(len(chosen))]
    rng.shuffle(order)
    return Selection(picked, chosen, turns, order)


# --------------------------------------------------------------------------------------------------
# output rows
# --------------------------------------------------------------------------------------------------


def reference_question(question: str, has_image: bool) -> str:
    """The script's ``<image>`` placement for the refused question (without an image: no tag at all)."""
    text = question.replace("\n<image>", "")
    if not has_image:
        return strip_image_tags(text)
    return text if text.startswith("<image>\n") else f"<image>\n{text}"


_BATCH = 2048


def check_tags(questions: list[str], n_images: int, loc: Location, row_id: Any) -> None:
    """What the ``rejection_mix`` schema checks beyond a normalised source row: ``<image>`` tags in the
    questions are either absent or one per image (the tests run every output through ``validate_file``)."""
    n_tags = sum(q.count(IMAGE_TAG) for q in questions)
    if n_tags and n_tags != n_images:
        raise BadRow(f"{where(loc, row_id)}: {n_tags} '{IMAGE_TAG}' tag(s) in the question(s) but {n_images} image(s)",
                     "image_tags", loc, row_id)


class _Ids:
    """Output ids: the source id as a string; a repeat gets ``#2``, ``#3``… (LLaVA ids name the image and
    repeat; our formats need unique ids); a row without id gets ``<role>-<row>``."""

    def __init__(self):
        self.used: set[str] = set()
        self.renamed = 0

    def __call__(self, raw: Any, role: str, row: int) -> str:
        base = f"{role}-{row}" if raw is None else str(raw)
        uid, n = base, 1
        while uid in self.used:
            n += 1
            uid = f"{base}#{n}"
        if n > 1:
            self.renamed += 1
        self.used.add(uid)
        return uid


def _row(uid: str, kind: str, images: list, system: str, conversations: list) -> dict:
    out: dict[str, Any] = {"id": uid, "kind": kind}
    if images:
        out["images"] = images
    if system:
        out["system"] = system
    out["conversations"] = conversations
    return out


# --------------------------------------------------------------------------------------------------
# the builder
# --------------------------------------------------------------------------------------------------


@dataclass
class BuildResult:
    dataset: str
    dataset_info: str
    stats_path: str
    rejected: str
    stats: dict

    def summary(self) -> str:
        s = self.stats
        rows = s["outputs"][s["params"]["file_name"]]["rows"]
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(s.get("counts", {}).get("by_kind", {}).items()))
        return (f"{self.dataset}: {rows} rows ({kinds}); rows in {s['rows_in']}, kept {s['kept']}, rejected "
                f"{s['rejected']['total']}, not selected {s['not_selected']}; stats: {self.stats_path}")


def resolve_counts(num_rejection: int | None, num_instruct: int | None, rejection_ratio: float | None,
                   total: int | None) -> tuple[int, int]:
    """``(N, M)`` from ``--num-rejection/--num-instruct`` or ``--rejection-ratio/--total``
    (N = round(ratio × total), M = total − N)."""
    if rejection_ratio is not None or total is not None:
        if num_rejection is not None or num_instruct is not None:
            raise ValueError("give either --num-rejection/--num-instruct or --rejection-ratio/--total, not both")
        if rejection_ratio is None or total is None:
            raise ValueError("--rejection-ratio and --total go together")
        if not 0 <= rejection_ratio <= 1:
            raise ValueError("--rejection-ratio must be within [0, 1]")
        if total < 0:
            raise ValueError("--total must be >= 0")
        n = int(round(rejection_ratio * total))
        return n, total - n
    if num_rejection is None or num_instruct is None:
        raise ValueError("give --num-rejection and --num-instruct (or --rejection-ratio and --total)")
    if num_rejection < 0 or num_instruct < 0:
        raise ValueError("row counts must be >= 0")
    return num_rejection, num_instruct


def _roots(explicit: str | Iterable[str] | None, source: str) -> list[str]:
    if explicit is None:
        return [os.path.dirname(os.path.abspath(source))]
    return [explicit] if isinstance(explicit, str) else list(explicit)


def build_rejection_mix(
    benign: str,
    instruct: str,
    out_dir: str,
    *,
    name: str = "rejection_mix",
    num_rejection: int | None = None,
    num_instruct: int | None = None,
    rejection_ratio: float | None = None,
    total: int | None = None,
    seed: int = 0,
    compat: str = "none",
    refusal: str = REFUSAL_SENTENCE,
    image_root: str | None = None,
    benign_image_root: str | None = None,
    instruct_image_root: str | None = None,
    image_paths: str = "absolute",
    check_images: str = "header",
    allow_path_escape: bool = False,
    skip_bad: bool = False,
    duplicate_ids: str = "allow",
    output_format: str = "jsonl",
    formatting: str = "rejection_mix",
    merge_into: str | None = None,
    replace_entry: bool = False,
) -> BuildResult:
    """Build a rejection-mix dataset into ``out_dir``: ``<name>.jsonl`` (or ``.json``),
    ``dataset_info.json``, ``stats.json``, ``rejected.jsonl``. See the module docstring for the recipe.

    Image paths are checked (``check_images``: none | exists | header | decode) against
    ``benign_image_root`` / ``instruct_image_root`` (else ``image_root``, else the source file's folder)
    and written as ``image_paths``: ``absolute`` (default; valid wherever the dataset goes on this
    machine), ``relative`` (to ``out_dir``) or ``source`` (as in the source; train with
    ``media_dir: <image root>``).
    """
    if compat not in COMPAT_MODES:
        raise ValueError(f"compat must be one of {COMPAT_MODES}")
    if duplicate_ids not in DUPLICATE_ID_POLICIES:
        raise ValueError(f"duplicate_ids must be one of {DUPLICATE_ID_POLICIES}")
    if output_format not in ("jsonl", "json"):
        raise ValueError("output_format must be 'jsonl' or 'json'")
    if formatting not in FORMATTINGS:
        raise ValueError(f"formatting must be one of {FORMATTINGS}")
    if not isinstance(refusal, str) or not refusal.strip():
        raise ValueError("the refusal sentence must be a non-empty string")
    n_rej, n_ins = resolve_counts(num_rejection, num_instruct, rejection_ratio, total)
    out_dir = os.path.abspath(out_dir)
    file_name = f"{plain_stem(name)}.{output_format}"
    inputs = [benign, instruct]
    check_outputs(out_dir, [file_name, "stats.json", "rejected.jsonl"], inputs,
                  dataset_info_entry(name, file_name, formatting), merge_into, replace_entry)

    stats = BuildStats(command="build-rejection-mix", seed=seed, params={
        "name": name, "file_name": file_name, "formatting": formatting, "num_rejection": n_rej,
        "num_instruct": n_ins, "compat": compat, "refusal": refusal, "image_paths": image_paths,
        "check_images": check_images, "skip_bad": skip_bad, "duplicate_ids": duplicate_ids,
    })
    rejects = Rejects(skip_bad, stats)
    counts: Counter = Counter()

    def benign_check(obj: dict, scanned) -> bool:
        if compat == "reference":
            return True  # the script draws from every row; a drawn row without a usable turn fails then
        q = first_question(obj)
        if q is not None and not is_follow_up(q):
            return True  # the common case, at a glance; the row is fully checked if drawn
        row = normalize_source_row(obj, scanned.loc)  # a bad row raises BadRow here
        return bool(eligible_turns(row, compat))

    pools = index_sources(
        [("benign", benign, benign_check), ("instruct", instruct, ALWAYS)],
        rejects, stats, duplicate_ids=duplicate_ids, need_ids=compat == "reference",
    )
    bpool, ipool = pools["benign"], pools["instruct"]
    try:
        sel = select(bpool, ipool, n_rej, n_ins, seed, compat, rejects)
        for role, pool, n_sel in (("benign", bpool, len(sel.rejection)), ("instruct", ipool, len(sel.instruct))):
            stats.unselected(role, len(pool) - n_sel + pool.not_candidates)
        counts["benign_rows_without_standalone_turn"] = bpool.not_candidates

        checkers = {
            "benign": ImageChecker(_roots(benign_image_root or image_root, benign), check_images, image_paths,
                                   out_dir, allow_path_escape),
            "instruct": ImageChecker(_roots(instruct_image_root or image_root, instruct), check_images, image_paths,
                                     out_dir, allow_path_escape),
        }
        # output ids in output order (unique; repeats get #2, #3…), known before any row is read
        ids = _Ids()
        uid_of: dict[tuple[str, int], str] = {}
        for kind, i in sel.order:
            pool = bpool if kind == "rejection" else ipool
            k = sel.rejection[i] if kind == "rejection" else sel.instruct[i]
            uid_of[(kind, i)] = ids(pool.id(k), pool.role, pool.row(k))

        # pass 2: read the selected rows in file order, build and check them; write in the drawn order
        todo = sorted(sel.order, key=lambda item: (
            0 if item[0] == "rejection" else 1,
            (bpool if item[0] == "rejection" else ipool).row(
                sel.rejection[item[1]] if item[0] == "rejection" else sel.instruct[item[1]])))
        by_kind: Counter = Counter()
        turn_hist: Counter = Counter()
        with Outputs(out_dir, inputs) as out, _Stage(out_dir) as stage:
            bar = progress(total=len(todo), desc="read selected")
            for b in range(0, len(todo), _BATCH):
                batch = []  # rows of this batch read first (file order), then their images checked together
                for kind, i in todo[b:b + _BATCH]:
                    if kind == "rejection" and sel.turns[i] is None:
                        continue  # rejected while drawing its turn
                    pool = bpool if kind == "rejection" else ipool
                    k = sel.rejection[i] if kind == "rejection" else sel.instruct[i]
                    try:
                        batch.append((kind, i, pool, k, pool.read(k)))
                    except BadRow as err:
                        batch.append((kind, i, pool, k, err))
                for role in ("benign", "instruct"):
                    checkers[role].prefetch(p for kind, _, pool, _, src in batch if pool.role == role
                                            and isinstance(src, SourceRow) for p in src.images)
                for kind, i, pool, k, src in batch:
                    role = pool.role
                    loc = pool.loc(k)
                    raw_id = pool.id(k)
                    try:
                        if isinstance(src, BadRow):
                            raise src
                        images = checkers[role].output_paths(src.images, loc, src.id) if src.images else []
                        if kind == "rejection":
                            question = src.turns[sel.turns[i]][0]
                            if compat == "reference":
                                question = reference_question(question, bool(src.images))
                            else:
                                question = with_leading_tags(question, len(images))
                            conv = [{"from": "human", "value": question}, {"from": "gpt", "value": refusal}]
                            check_tags([question], len(images), loc, raw_id)
                        else:
                            conv = src.conversations()
                            check_tags([q for q, _ in src.turns], len(images), loc, raw_id)
                    except BadRow as err:
                        rejects.handle(err, loc, raw_id, role=role)
                        continue
                    stage.put((kind, i), dumps_row(_row(uid_of[(kind, i)], kind, images, src.system, conv)))
                    stats.keep(role)
                    by_kind[kind] += 1
                    counts["rows_with_images" if images else "rows_without_images"] += 1
                    if kind == "rejection":
                        turn_hist[str(sel.turns[i])] += 1
                        if compat == "reference" and not src.images:
                            counts["reference_text_only_rejection_rows"] += 1
                bar.update(len(batch))
            bar.close()

            data = out.dataset(file_name)
            for key in progress(sel.order, total=len(sel.order), desc="write"):
                text = stage.get(key)
                if text is not None:
                    data.write_text(text)
            sha = data.close()
            counts["by_kind"] = dict(sorted(by_kind.items()))
            counts["rejection_turn_index"] = dict(sorted(turn_hist.items(), key=lambda kv: int(kv[0])))
            counts["renamed_duplicate_ids"] = ids.renamed
            short = (n_rej + n_ins) - data.rows
            if compat == "reference" and (n_rej > len(bpool) or n_ins > len(ipool)):
                stats.notes.append("the reference script clamps sample sizes to the file sizes: "
                                   f"drew {len(sel.rejection)} rejection and {len(sel.instruct)} instruct rows")
            elif short:
                stats.notes.append(f"{short} selected row(s) were rejected after selection; the dataset has "
                                   f"{data.rows} rows instead of {n_rej + n_ins}")
            stats.counts = {k: counts[k] for k in sorted(counts)}
            stats.outputs = {file_name: {"rows": data.rows, "sha256": sha}}
            rejects.write(out.file("rejected.jsonl"))
            stats.outputs["rejected.jsonl"] = {"rows": len(rejects)}
            stats.check()
            out.dataset_info(dataset_info_entry(name, file_name, formatting), merge_into, replace_entry)
            out.text("stats.json", stats.dumps())
    finally:
        bpool.index.close()
        ipool.index.close()
    dataset_path = os.path.join(out_dir, file_name)
    return BuildResult(dataset_path, os.path.join(out_dir, "dataset_info.json"), os.path.join(out_dir, "stats.json"),
                       os.path.join(out_dir, "rejected.jsonl"), stats.to_dict())


class _Stage:
    """Built rows waiting for their place in the output order: in memory up to ``budget`` characters,
    then in a temp spool file in the output folder (deleted at the end)."""

    def __init__(self, folder: str, budget: int = 256 << 20):
        self.folder = folder
        self.budget = budget
        self.size = 0
        self.mem: dict = {}
        self.spooled: dict = {}
        self._spool = None
        self._end = 0

    def put(self, key, text: str) -> None:
        if self.size + len(text) <= self.budget:
            self.mem[key] = text
            self.size += len(text)
            return
        if self._spool is None:
            import tempfile

            self._spool = tempfile.TemporaryFile(dir=self.folder, prefix=".stage.")
        data = text.encode("utf-8")
        self._spool.write(data)
        self.spooled[key] = (self._end, len(data))
        self._end += len(data)

    def get(self, key) -> str | None:
        if key in self.mem:
            return self.mem.pop(key)
        if key in self.spooled:
            self._spool.flush()
            start, length = self.spooled.pop(key)
            return os.pread(self._spool.fileno(), length, start).decode("utf-8")
        return None

    def __enter__(self) -> "_Stage":
        return self

    def __exit__(self, *exc) -> None:
        if self._spool is not None:
            self._spool.close()


__all__ = ["BuildResult", "build_rejection_mix", "is_follow_up", "paper_follow_up", "reference_question",
           "resolve_counts", "select"]
