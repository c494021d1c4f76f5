"""Stage 4 of ``vsfa build-vsfa``: keep only neutral, well-formed question/answer pairs.

VSFA trains on neutral VQA about threat-related images *without any safety vocabulary*; these filters
enforce that and a few quality rules. Every dropped pair (or caption, or item) is reported with a reason
code — nothing is dropped silently:

==========================  =======================================================================
reason                      when
==========================  =======================================================================
``safety_word``             a lexicon entry occurs in the question, the answer or the caption
``refusal``                 the answer refuses / apologises ("I'm sorry", "I cannot", "As an AI")
``unanswerable``            the answer says it cannot be told ("not visible", "cannot be determined")
``not_a_question``          the question does not end with ``?``
``too_short`` / ``too_long``  outside the length limits (characters; questions also need 3 words)
``not_english``             too few ASCII letters or no common English word (``--language any`` skips)
``duplicate_question``      the same question (case/punctuation-insensitive) twice for one image
``image_tag``               the text contains ``<image>`` (our formats place image tags themselves)
==========================  =======================================================================

The lexicon (:data:`DEFAULT_LEXICON_PATH`, format in that file) is matched case-insensitively on whole
words; see :class:`Lexicon`.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Iterable

from ...records import IMAGE_TAG, RecordError

DEFAULT_LEXICON_PATH = str(resources.files("vsfa_plugins.data").joinpath("safety_lexicon.txt"))

#: a "word" for the lexicon: letters/digits, with inner apostrophes ("can't"); a hyphen separates words, so
#: the parts of a compound are checked ("life-threatening" contains "threatening")
_WORD_CHARS = r"[^\W_]"
_WORD_RE = re.compile(rf"{_WORD_CHARS}+(?:['’]{_WORD_CHARS}+)*")


@dataclass
class LexiconEntry:
    text: str
    source: str  # file:line


class Lexicon:
    """Whole-word, case-insensitive matcher for safety vocabulary.

    Entries are single words (``danger``), prefixes (``endanger*``) or phrases (``as an ai``). Text is cut
    into words (letters/digits with inner apostrophes; hyphens separate), and a phrase matches consecutive
    words. Curly apostrophes are read as straight ones.
    """

    def __init__(self, entries: Iterable[LexiconEntry], origin: str = "<lexicon>"):
        self.entries = list(entries)
        self.origin = origin
        self._words: dict[str, str] = {}
        self._prefixes: list[tuple[str, str]] = []
        self._phrases: list[tuple[tuple[str, ...], str]] = []
        for entry in self.entries:
            text = entry.text.strip().lower().replace("’", "'")
            if text.endswith("*"):
                stem = text[:-1].strip()
                if not stem or not _WORD_RE.fullmatch(stem):
                    raise RecordError(f"{entry.source}: a prefix entry must be one word followed by '*', got {entry.text!r}")
                self._prefixes.append((stem, entry.text))
                continue
            words = tuple(w.lower() for w in _WORD_RE.findall(text))
            if not words:
                raise RecordError(f"{entry.source}: empty or unusable lexicon entry {entry.text!r}")
            if len(words) == 1:
                self._words.setdefault(words[0], entry.text)
            else:
                self._phrases.append((words, entry.text))

    # -- loading ---------------------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | os.PathLike | None = None, extra: Iterable[str] = ()) -> "Lexicon":
        path = os.fspath(path) if path else DEFAULT_LEXICON_PATH
        if not os.path.isfile(path):
            raise RecordError(f"{path}: lexicon file not found")
        entries = []
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except UnicodeDecodeError:
            from ...records.reader import non_utf8_where

            raise RecordError(non_utf8_where(path) + " (lexicon)", "non_utf8") from None
        for n, line in enumerate(lines, start=1):
            line = line.split("#", 1)[0]
            for part in line.split(","):
                if part.strip():
                    entries.append(LexiconEntry(part.strip(), f"{path}:{n}"))
        entries += [LexiconEntry(w.strip(), "--extra-safety-words") for w in extra if w.strip()]
        if not entries:
            raise RecordError(f"{path}: the lexicon holds no entries")
        return cls(entries, origin=path)

    @property
    def fingerprint(self) -> str:
        """sha256 of the normalised entry list (goes into stats.json)."""
        return hashlib.sha256("\n".join(sorted(e.text.lower() for e in self.entries)).encode()).hexdigest()

    def __len__(self) -> int:
        return len(self.entries)

    # -- matching ----------------------------------------------------------------------------------------

    def find(self, text: str) -> list[str]:
        """Every lexicon entry found in ``text`` (as written in the lexicon), in order of first match."""
        words = [w.lower() for w in _WORD_RE.findall(text.replace("’", "'"))]
        found: list[str] = []
        for i, word in enumerate(words):
            hit = self._words.get(word)
            if hit is None:
                for stem, entry in self._prefixes:
                    if word.startswith(stem):
                        hit = entry
                        break
            if hit is None:
                for phrase, entry in self._phrases:
                    if tuple(words[i : i + len(phrase)]) == phrase:
                        hit = entry
                        break
            if hit is not None and hit not in found:
                found.append(hit)
        return found

    def first(self, text: str) -> str | None:
        hits = self.find(text)
        return hits[0] if hits else None


# ------------------------------------------------------------------------------------------------------
# quality rules
# ------------------------------------------------------------------------------------------------------

_REFUSAL_RE = re.compile(
    r"\b(i['’]?m sorry|i am sorry|i apologi[sz]e|i can(?:not|['’]t)|i am (?:not able|unable)|i['’]m (?:not able|unable)"
    r"|i won['’]t|i will not|as an ai\b|as a language model|i do(?:n['’]t| not) feel comfortable)",
    re.IGNORECASE,
)
_UNANSWERABLE_RE = re.compile(
    r"\b(not (?:clearly )?visible|cannot be (?:determined|seen|told)|can['’]t be (?:determined|seen|told)"
    r"|(?:is|it['’]s|it is) (?:not )?(?:unclear|impossible to (?:tell|say|determine))|not possible to (?:tell|say|determine)"
    r"|there is no way to (?:tell|know)|i (?:do not|don['’]t) know|unknown|not sure|no information)\b",
    re.IGNORECASE,
)
_ENGLISH_WORDS = frozenset(
    "a an the is are was were be of in on at to with and or what which where how many much who why does do "
    "there this that these those it its it's they their one two three four five six seven eight nine ten "
    "colour color shown image picture left right top bottom side".split()
)
_NORM_RE = re.compile(r"[^a-z0-9]+")


@dataclass
class FilterConfig:
    min_question_chars: int = 8
    max_question_chars: int = 300
    min_question_words: int = 3
    min_answer_chars: int = 1
    max_answer_chars: int = 600
    max_caption_chars: int = 1500
    language: str = "en"  # "en" | "any"
    require_question_mark: bool = True

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Verdict:
    ok: bool
    reason: str = ""
    message: str = ""


def _latin(text: str) -> bool:
    """At least 95% of the letters are ASCII (numbers-only answers such as "3." pass)."""
    letters = [c for c in text if c.isalpha()]
    return not letters or sum(c.isascii() for c in letters) / len(letters) >= 0.95


def _english(text: str) -> bool:
    """ASCII letters and at least one very common English word (a cheap, dependency-free check)."""
    words = {w.lower() for w in _WORD_RE.findall(text)}
    return _latin(text) and bool(words & _ENGLISH_WORDS)


def norm_question(text: str) -> str:
    return _NORM_RE.sub(" ", text.lower()).strip()


@dataclass
class TurnFilter:
    """Applies the lexicon and quality rules to question/answer pairs and captions."""

    lexicon: Lexicon
    config: FilterConfig = field(default_factory=FilterConfig)

    def check_pair(self, question: str, answer: str) -> Verdict:
        c = self.config
        if not isinstance(question, str) or not isinstance(answer, str):
            return Verdict(False, "too_short", "question or answer is not text")
        q, a = question.strip(), answer.strip()
        for part, text in (("question", q), ("answer", a)):
            word = self.lexicon.first(text)
            if word is not None:
                return Verdict(False, "safety_word", f"{part} contains safety word {word!r}")
        if IMAGE_TAG in q or IMAGE_TAG in a:
            return Verdict(False, "image_tag", f"text contains {IMAGE_TAG}")
        if _REFUSAL_RE.search(a):
            return Verdict(False, "refusal", "the answer refuses or apologises")
        if len(q) < c.min_question_chars or len(q.split()) < c.min_question_words:
            return Verdict(False, "too_short", f"question shorter than {c.min_question_chars} characters / "
                                               f"{c.min_question_words} words")
        if len(q) > c.max_question_chars:
            return Verdict(False, "too_long", f"question longer than {c.max_question_chars} characters")
        if len(a) < c.min_answer_chars:
            return Verdict(False, "too_short", "empty answer")
        if len(a) > c.max_answer_chars:
            return Verdict(False, "too_long", f"answer longer than {c.max_answer_chars} characters")
        if c.require_question_mark and not q.endswith("?"):
            return Verdict(False, "not_a_question", "the question does not end with '?'")
        if _UNANSWERABLE_RE.search(a):
            return Verdict(False, "unanswerable", "the answer says it cannot be told from the image")
        if c.language == "en" and not (_english(q) and _latin(a)):
            return Verdict(False, "not_english", "the text does not read as English")
        return Verdict(True)

    def check_caption(self, caption: str) -> Verdict:
        if not isinstance(caption, str) or not caption.strip():
            return Verdict(False, "too_short", "no caption")
        word = self.lexicon.first(caption)
        if word is not None:
            return Verdict(False, "safety_word", f"caption contains safety word {word!r}")
        if IMAGE_TAG in caption:
            return Verdict(False, "image_tag", f"caption contains {IMAGE_TAG}")
        if _REFUSAL_RE.search(caption):
            return Verdict(False, "refusal", "the caption refuses or apologises")
        if len(caption) > self.config.max_caption_chars:
            return Verdict(False, "too_long", f"caption longer than {self.config.max_caption_chars} characters")
        if self.config.language == "en" and not _english(caption):
            return Verdict(False, "not_english", "the caption does not read as English")
        return Verdict(True)

    def filter_turns(self, turns: list[dict]) -> tuple[list[dict], list[tuple[int, Verdict]]]:
        """Split ``[{question, answer}]`` into kept pairs and ``(index, verdict)`` of dropped ones."""
        kept, dropped, seen = [], [], set()
        for i, turn in enumerate(turns):
            verdict = self.check_pair(turn.get("question"), turn.get("answer"))
            if verdict.ok:
                key = norm_question(turn["question"])
                if key in seen:
                    verdict = Verdict(False, "duplicate_question", "the same question was already asked about this image")
                else:
                    seen.add(key)
            if verdict.ok:
                kept.append({"question": turn["question"].strip(), "answer": turn["answer"].strip()})
            else:
                dropped.append((i, verdict))
        return kept, dropped


__all__ = ["DEFAULT_LEXICON_PATH", "FilterConfig", "Lexicon", "TurnFilter", "Verdict", "norm_question"]
