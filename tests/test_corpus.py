"""The default corpus is a committed file: the same text, sha256 and split on every Python."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from course.config import load_config
from course.corpus import DEFAULT_CORPUS, CorpusError, load_corpus, load_course_corpus, pydoc_topics_text

REPO = Path(__file__).resolve().parent.parent
CFG = load_config()
# The interpreters of this machine (and a GitHub runner's /usr/bin/python3): each ships another pydoc_data.
INTERPRETERS = [Path(p) for p in (
    "/root/.pyenv/versions/3.10.13/bin/python3.10", "/usr/bin/python3.11",
    "/root/.pyenv/versions/3.11.7/bin/python3.11", "/root/.pyenv/versions/3.12.1/bin/python3.12",
    "/root/.pyenv/versions/3.13.0/bin/python3.13", "/usr/bin/python3",
)]
PROBE = """
import hashlib, json, platform, sys
sys.path.insert(0, sys.argv[1])
from course.corpus import load_corpus, pydoc_topics_text
corpus = load_corpus(None, 0.10)
print(json.dumps({"python": platform.python_version(), "corpus": corpus.sha256, "train": len(corpus.train),
                  "pydoc": hashlib.sha256(pydoc_topics_text().encode("utf-8")).hexdigest()}))
"""


def test_the_committed_corpus_is_the_one_calibration_json_was_made_for():
    data = DEFAULT_CORPUS.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert CFG.corpus_path.resolve() == DEFAULT_CORPUS.resolve()
    assert digest == json.loads(CFG.calibration_path.read_text())["corpus_sha256"] == load_course_corpus(CFG).sha256
    assert digest in (REPO / "corpus" / "README.md").read_text()
    assert b"\r" not in data and data.decode("utf-8")  # LF only, UTF-8: no checkout or reader can change it
    assert ".gitattributes" in {p.name for p in REPO.iterdir()}
    assert "corpus/*.txt -text" in (REPO / ".gitattributes").read_text()


@pytest.mark.skipif(sys.version_info[:3] != (3, 11, 7), reason="the file was made from CPython 3.11.7's pydoc_data")
def test_the_file_is_cpython_3_11_7s_pydoc_topics():
    assert pydoc_topics_text() == DEFAULT_CORPUS.read_text(encoding="utf-8")


def test_every_interpreter_reads_the_same_corpus_although_their_pydoc_data_differ():
    found = {}
    for python in INTERPRETERS:
        if not python.is_file():
            continue
        proc = subprocess.run([str(python), "-I", "-c", PROBE, str(REPO)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, (python, proc.stderr[-2000:])
        seen = json.loads(proc.stdout)
        found[seen["python"]] = seen
    if len(found) < 2:
        pytest.skip("fewer than two interpreters of different versions here")
    corpus = load_course_corpus(CFG)
    assert {v["corpus"] for v in found.values()} == {corpus.sha256}
    assert {v["train"] for v in found.values()} == {len(corpus.train)}
    # What the committed file replaces: each Python release ships another text.
    assert len({v["pydoc"] for v in found.values()}) == len(found), {k: v["pydoc"][:12] for k, v in found.items()}


def test_a_missing_or_binary_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="does not exist: fix CORPUS_PATH"):
        load_corpus(tmp_path / "missing.txt")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe" * 10_000)
    with pytest.raises(CorpusError, match="is not UTF-8 text"):
        load_corpus(tmp_path / "binary.txt")
    with pytest.raises(CorpusError, match="is a folder"):
        load_corpus(tmp_path)


def test_an_unreadable_corpus_is_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "corpus.txt"
    path.write_text("x" * 20_000, encoding="utf-8")

    def refuse(self, *args, **kwargs):  # the tests run as root, which chmod cannot lock out
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(CorpusError, match=r"corpus.txt cannot be read \(Permission denied\): make it readable"):
        load_corpus(path)
