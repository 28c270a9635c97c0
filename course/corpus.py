"""Load the lab's text corpus (default: Python's pydoc topics) and split it."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from course.errors import UserError

DEFAULT_CORPUS_NAME = "pydoc_data.topics (Python standard library)"


@dataclass(frozen=True)
class Corpus:
    """A corpus and its train / held-out split (a character-level cut)."""

    name: str
    text: str
    train: str
    heldout: str
    sha256: str

    @property
    def vocab(self) -> list[str]:
        return sorted(set(self.text))

    def describe(self) -> str:
        return (
            f"corpus {self.name}: {len(self.text):,} characters, {len(self.vocab)} distinct, "
            f"train {len(self.train):,} / held out {len(self.heldout):,}, sha256 {self.sha256[:16]}..."
        )


class CorpusError(UserError, ValueError):
    """The configured corpus cannot be used."""


def default_corpus_text() -> str:
    """The text of ``pydoc_data.topics.topics``, values joined in sorted-key order."""
    from pydoc_data.topics import topics

    return "".join(topics[key] for key in sorted(topics))


def load_corpus(path: str | Path | None = None, heldout_fraction: float = 0.10) -> Corpus:
    """Read a corpus and split it: the first part trains, the last part is held out.

    Args:
        path: a UTF-8 text file, or None for the default pydoc corpus.
        heldout_fraction: share of characters held out at the end.

    Returns:
        A Corpus with its sha256 (of the UTF-8 bytes) for calibration checks.
    """
    if path is None:
        name, text = DEFAULT_CORPUS_NAME, default_corpus_text()
    else:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CorpusError(f"Corpus file {path} does not exist: fix CORPUS_PATH in course_config.py.") from None
        except UnicodeDecodeError as exc:
            raise CorpusError(f"Corpus file {path} is not UTF-8 text ({exc}).") from None
        name = str(path)
    if len(text) < 10_000:
        raise CorpusError(f"Corpus {name} has {len(text)} characters; the lab needs at least 10,000.")
    cut = int(len(text) * (1.0 - heldout_fraction))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Corpus(name=name, text=text, train=text[:cut], heldout=text[cut:], sha256=digest)


def load_course_corpus(cfg) -> Corpus:
    """The corpus configured in a CourseConfig."""
    return load_corpus(cfg.corpus_path, cfg.heldout_fraction)
