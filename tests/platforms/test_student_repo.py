"""The public student repository: badge, README, corpus copy and download, `course publish`, and every link."""
from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from course.authoring.release import CORPUS_CELL_ID, ReleaseError, ReleaseJob, check_source_corpus, corpus_settings
from course.config import load_config
from course.corpus import load_course_corpus
from course.platforms import student_repo
from course.platforms.classroom import CONSTRAINTS, ENTRY, WORKFLOW

REPO = Path(__file__).resolve().parents[2]
CFG = load_config()
RELEASE = CFG.release_notebook.parent


def release_cell(cell_id: str) -> str:
    nb = nbformat.read(str(CFG.release_notebook), as_version=4)
    return next(c.source for c in nb.cells if c.get("id") == cell_id)


# --- what release/<lab>/ holds for the student repository -----------------------------


def test_the_release_notebook_opens_with_the_colab_badge_of_the_student_repository():
    first = nbformat.read(str(CFG.release_notebook), as_version=4).cells[0]
    lines = first.source.splitlines()
    assert lines[0].startswith("# ") and lines[2] == student_repo.badge_markdown(CFG)
    assert CFG.colab_url == f"https://colab.research.google.com/github/{CFG.student_repo}/blob/" \
                           f"{CFG.student_branch}/{CFG.notebook}"
    assert (RELEASE / CFG.notebook).is_file()  # the student repository's root holds release/<lab>/: the link works


def test_the_corpus_travels_beside_the_notebook_with_its_download_address():
    assert (RELEASE / CFG.corpus_path.name).read_bytes() == CFG.corpus_path.read_bytes()
    source = release_cell(CORPUS_CELL_ID)
    name = CFG.corpus_path.name
    assert f'CORPUS_FILE = "{name}"' in source
    assert f'CORPUS_URL = "https://raw.githubusercontent.com/{CFG.student_repo}/{CFG.student_branch}/{name}"' in source
    assert f'CORPUS_SHA256 = "{load_course_corpus(CFG).sha256}"' in source
    assert corpus_settings(CFG)["CORPUS_URL"] == CFG.student_raw_url(name)


def test_the_student_readme_says_how_to_open_work_check_and_submit():
    readme = (RELEASE / student_repo.README).read_text(encoding="utf-8")
    assert readme == student_repo.student_readme(CFG)
    for phrase in (student_repo.badge_markdown(CFG), "Save a copy in Drive", f"git clone {CFG.student_url}.git",
                   f"jupyter lab {CFG.notebook}", "Self-check", f"python {ENTRY} run {CFG.notebook}",
                   "Download .ipynb", f"push `{CFG.notebook}`", CONSTRAINTS, WORKFLOW):
        assert phrase in readme, phrase
    # every file the README names is in the release
    for rel in (CONSTRAINTS, WORKFLOW, ENTRY, CFG.corpus_path.name, CFG.notebook):
        assert (RELEASE / rel).is_file(), rel


def test_the_source_corpus_cell_must_read_the_configured_corpus():
    nb = nbformat.read(str(CFG.source_notebook), as_version=4)
    job = ReleaseJob(cfg=CFG, workdir=REPO, source=nb)
    check_source_corpus(job)  # the committed source reads ../../corpus/pydoc_topics.txt
    cell = next(c for c in nb.cells if c.get("id") == CORPUS_CELL_ID)
    cell.source = cell.source.replace('"../../corpus/pydoc_topics.txt"', '"other.txt"')
    with pytest.raises(ReleaseError, match=r'reads other.txt, not CORPUS_PATH .* set CORPUS_FILE = "../../corpus/'):
        check_source_corpus(job)


# --- the corpus cell where students run it: the student repository, Colab, neither ------------


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def run_corpus_cell(monkeypatch, capsys, folder: Path, served: dict[str, bytes]) -> tuple[dict, str]:
    """Run the release's corpus cell in ``folder``; urlopen answers only the URLs in ``served`` (no network)."""
    asked = []

    def urlopen(url, timeout=None):
        asked.append(url)
        if url in served:
            return FakeResponse(served[url])
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.chdir(folder)
    namespace: dict = {}
    exec(compile(release_cell(CORPUS_CELL_ID), "load-corpus", "exec"), namespace)
    namespace["asked"] = asked
    return namespace, capsys.readouterr().out


def test_in_the_student_repository_the_cell_reads_the_file_beside_the_notebook(monkeypatch, capsys):
    ns, out = run_corpus_cell(monkeypatch, capsys, RELEASE, {})
    assert ns["asked"] == [] and "Corpus: the file pydoc_topics.txt beside the notebook" in out
    assert ns["text"] == load_course_corpus(CFG).text and "WARNING" not in out


def test_on_colab_the_cell_downloads_the_corpus_from_the_student_repository(monkeypatch, capsys, tmp_path):
    url = CFG.student_raw_url(CFG.corpus_path.name)
    ns, out = run_corpus_cell(monkeypatch, capsys, tmp_path, {url: CFG.corpus_path.read_bytes()})
    assert ns["asked"] == [url]
    assert f"Corpus: {url} (downloaded" in out and "WARNING" not in out
    corpus = load_course_corpus(CFG)
    assert (ns["train_text"], ns["heldout_text"]) == (corpus.train, corpus.heldout)
    assert f"sha256 {corpus.sha256}" in out


def test_without_file_or_network_the_cell_falls_back_and_says_the_numbers_differ(monkeypatch, capsys, tmp_path):
    ns, out = run_corpus_cell(monkeypatch, capsys, tmp_path, {})
    assert ns["corpus_source"].startswith("pydoc_data.topics of this Python (not the graded corpus)")
    assert "Could not download" in out and "will differ from the grader's" in out
    from pydoc_data.topics import topics

    assert ns["text"] == "".join(topics[k] for k in sorted(topics))
    if hashlib.sha256(ns["text"].encode()).hexdigest() != load_course_corpus(CFG).sha256:  # any Python but 3.11.7
        assert "WARNING: this text is not the graded corpus" in out


# --- links ------------------------------------------------------------------------------

LINK = re.compile(r"https?://(?:www\.)?(github\.com|raw\.githubusercontent\.com|colab\.research\.google\.com/github)"
                  r"/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)")


def documents() -> dict[str, str]:
    paths = [REPO / "README.md", REPO / "SECURITY.md", *sorted((REPO / "docs").glob("*.md")),
             REPO / "corpus" / "README.md", RELEASE / student_repo.README, CFG.release_notebook, CFG.source_notebook,
             RELEASE / WORKFLOW]
    return {p.relative_to(REPO).as_posix(): p.read_text(encoding="utf-8") for p in paths if p.is_file()}


def test_every_repository_link_names_the_configured_student_repository():
    docs = documents()
    assert {"README.md", "docs/PLATFORMS.md", f"release/{CFG.assignment}/README.md"} <= set(docs)
    seen = {}
    for name, text in docs.items():
        for host, owner, repo in LINK.findall(text):
            seen.setdefault(f"{owner}/{repo.removesuffix('.git')}", set()).add(f"{name} ({host})")
    assert set(seen) <= {CFG.student_repo}, seen
    assert any(where.split()[0] == "README.md" for where in seen.get(CFG.student_repo, ())), \
        "the instructor README should link the student repository"
    assert CFG.colab_url in docs[f"release/{CFG.assignment}/README.md"]


# --- course publish --------------------------------------------------------------------------


def test_publish_refuses_this_repository_and_instructor_checkouts(tmp_path):
    with pytest.raises(student_repo.PublishError, match="instructor repository or a folder of it"):
        student_repo.publish(CFG, RELEASE)
    (tmp_path / "course_config.py").write_text("")
    with pytest.raises(student_repo.PublishError, match="looks like an instructor repository"):
        student_repo.publish(CFG, tmp_path)
    with pytest.raises(student_repo.PublishError, match="clone the student repository first"):
        student_repo.publish(CFG, tmp_path / "missing")


@pytest.mark.slow
def test_course_publish_copies_the_release_into_a_student_checkout(tmp_path):
    dest = tmp_path / "lab-rnn-student"
    subprocess.run(["git", "init", "-q", str(dest)], check=True)
    (dest / "LICENSE").write_text("the student repository's own file\n")
    (dest / ".github" / "classroom").mkdir(parents=True)
    (dest / ".github" / "classroom" / "old_runner.py").write_text("# from an earlier release\n")
    proc = subprocess.run([sys.executable, "-m", "course", "publish", str(dest)], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = student_repo.release_files(CFG)
    assert {CFG.notebook, student_repo.README, CFG.corpus_path.name, WORKFLOW, CONSTRAINTS} <= set(files)
    for rel in files:
        assert (dest / rel).read_bytes() == (RELEASE / rel).read_bytes(), rel
    assert (dest / "LICENSE").is_file() and not (dest / ".github" / "classroom" / "old_runner.py").exists()
    assert "removed 1 stale: .github/classroom/old_runner.py" in proc.stdout
    commands = (f"cd {dest}", "git add -A", "git commit -m 'Release lab_rnn", f"git push origin {CFG.student_branch}")
    for command in commands:
        assert command in proc.stdout, command
    for forbidden in ("autograder", "source", "course_config.py", "calibration.json"):
        assert not list(dest.rglob(forbidden)), forbidden
