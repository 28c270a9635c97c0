"""Load the lab's text corpus (default: the committed corpus/pydoc_topics.txt) and split it."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from course.errors import UserError

# The committed default corpus (CORPUS_PATH in course_config.py names it): the same bytes on every Python.
DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "pydoc_topics.txt"
MIN_CHARACTERS = 10_000


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


def pydoc_topics_text() -> str:
    """The values of this interpreter's ``pydoc_data.topics.topics``, joined in sorted-key order.

    How corpus/pydoc_topics.txt was made (on CPython 3.11.7). Every Python release ships
    another text, so nothing graded reads this: it documents and re-checks the file's origin.

    Returns:
        The joined text.
    """
    from pydoc_data.topics import topics  # only here: the grader never imports the stdlib's copy

    return "".join(topics[key] for key in sorted(topics))


def default_corpus_text() -> str:
    """The text of the committed default corpus, corpus/pydoc_topics.txt."""
    return read_text(DEFAULT_CORPUS)


def read_text(path: Path) -> str:
    """A UTF-8 text file's contents, as the notebook reads it (universal newlines).

    Raises:
        CorpusError: the file is missing, a folder, unreadable or not UTF-8.
    """
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CorpusError(f"Corpus file {path} does not exist: fix CORPUS_PATH in course_config.py.") from None
    except IsADirectoryError:
        raise CorpusError(f"Corpus {path} is a folder: CORPUS_PATH must name a UTF-8 text file.") from None
    except UnicodeDecodeError as exc:
        raise CorpusError(f"Corpus file {path} is not UTF-8 text ({exc}).") from None
    except OSError as exc:  # a permission, a file system error
        raise CorpusError(f"Corpus file {path} cannot be read ({exc.strerror or exc}): make it readable or fix "
                          "CORPUS_PATH in course_config.py.") from None


def load_corpus(path: str | Path | None = None, heldout_fraction: float = 0.10, name: str | None = None) -> Corpus:
    """Read a corpus and split it: the first part trains, the last part is held out.

    Args:
        path: a UTF-8 text file, or None for the committed default corpus.
        heldout_fraction: share of characters held out at the end.
        name: how reports name the corpus (default: the path).

    Returns:
        A Corpus with its sha256 (of the UTF-8 bytes) for calibration checks.
    """
    path = Path(path) if path is not None else DEFAULT_CORPUS
    text = read_text(path)
    name = name or str(path)
    if len(text) < MIN_CHARACTERS:
        raise CorpusError(f"Corpus {name} has {len(text)} characters; the lab needs at least {MIN_CHARACTERS:,}.")
    cut = int(len(text) * (1.0 - heldout_fraction))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Corpus(name=name, text=text, train=text[:cut], heldout=text[cut:], sha256=digest)


def load_course_corpus(cfg) -> Corpus:
    """The corpus configured in a CourseConfig (CORPUS_PATH), named by its path in the repository."""
    path = cfg.corpus_path
    name = path.relative_to(cfg.root).as_posix() if path.is_relative_to(cfg.root) else str(path)
    return load_corpus(path, cfg.heldout_fraction, name=name)
