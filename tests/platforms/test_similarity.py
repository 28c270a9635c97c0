"""Similarity across submissions: planted pairs rank first, independent solutions below them, given code is ignored."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
import similarity_cohort as sc

from course.cli import main as cli_main
from course.config import load_config
from course.errors import UserError
from course.platforms import fingerprints as fpr
from course.platforms.similarity import (
    MIN_SHARED,
    SIMILARITY_HTML,
    SIMILARITY_JSON,
    AnswerSet,
    main_similarity,
    rank,
    read_answers,
)
from course.student import notebook as nbc


@pytest.fixture(scope="module")
def cohort() -> dict[str, dict[str, str]]:
    return sc.cohort()


@pytest.fixture(scope="module")
def graded(tmp_path_factory, cohort) -> Path:
    return sc.write_grading_folder(tmp_path_factory.mktemp("sim") / "graded", cohort)


@pytest.fixture(scope="module")
def ranking(graded):
    return rank(read_answers(graded))


def pair_set(pairs) -> list[frozenset[str]]:
    return [frozenset({p.a, p.b}) for p in pairs]


# --- the normalisation ---------------------------------------------------------------------------------


def test_renaming_comments_and_layout_leave_the_tokens_unchanged():
    one = "def f(a, b):\n    total = a + b  # sum\n    return torch.tanh(total)\n"
    two = 'def f(left, right):\n    """Adds."""\n    s = (left\n         + right)\n\n    return torch.tanh(s)\n'
    assert [t.text for t in fpr.tokens(one)] == [t.text for t in fpr.tokens(two)]
    three = "def f(a, b):\n    total = a + b\n    return torch.sigmoid(total)\n"  # another API call is another token
    assert [t.text for t in fpr.tokens(one)] != [t.text for t in fpr.tokens(three)]


def test_code_that_does_not_parse_is_still_fingerprinted():
    broken = ("def f(x):\n    y = torch.tanh(x) +\n"
              "    return y * 2 + torch.sigmoid(x) * x - y / 3 + x ** 2\n%timeit f(1)\n")
    assert fpr.tokens(broken) and fpr.fingerprints(broken)
    assert [t.text for t in fpr.tokens("x = f(1,\n")] == ["V", "=", "V", "(", "num", ","]  # what could be read
    assert [t.text for t in fpr.tokens("s = '''never closed\n")] == ["V", "="]  # and no exception


def test_winnowing_finds_every_long_enough_shared_run():
    shared = "h = torch.tanh(self.W(x[:, t]) + self.U(h) + self.b)\nstates.append(h.unsqueeze(1))\n"
    a = "for t in range(n):\n    " + shared.replace("\n", "\n    ") + "out = 1\n"
    b = "z = q.mean(dim=0) + q.std(dim=0)\nfor t in range(m):\n    " + shared.replace("\n", "\n    ")
    run = len(fpr.tokens(shared))
    assert run >= fpr.K + fpr.W - 1
    assert set(fpr.fingerprints(a)) & set(fpr.fingerprints(b)), "a shared run of K + W - 1 tokens must be found"


def test_release_code_is_excluded(cohort):
    given = sc.release_cells()["MyRNN"]
    assert fpr.fingerprints(given, fpr.given_hashes(given)) == {}
    own = cohort["ana"]["MyRNN"]
    assert fpr.fingerprints(own, fpr.given_hashes(given)), "the student's own lines still count"


# --- the ranking on planted pairs -------------------------------------------------------------------


def test_planted_full_copies_rank_first_overall(ranking):
    assert set(pair_set(ranking.pairs[:2])) == sc.FULL_COPIES


def test_every_planted_pair_ranks_above_every_independent_pair(ranking):
    pairs = pair_set(ranking.pairs)
    planted = [pairs.index(p) for p in sc.PLANTED]
    independent = [i for i, p in enumerate(pairs) if p not in sc.PLANTED]
    assert max(planted) < min(independent), [(p.a, p.b, round(p.score, 3)) for p in ranking.pairs[:6]]
    # and by a margin: the best independent pair shares far less than the weakest planted one
    best_independent = ranking.pairs[min(independent)].score
    assert best_independent < 0.5 * min(ranking.pairs[i].score for i in planted)


@pytest.mark.parametrize("exercise", sc.COPIED_BY_IVY)
def test_copied_exercises_rank_their_copies_first(ranking, exercise):
    top = pair_set(ranking.by_exercise[exercise])
    shown = [(p.a, p.b, round(p.on(exercise).score, 2)) for p in ranking.by_exercise[exercise]]
    assert set(top[:3]) == sc.PLANTED, shown
    for p in ranking.by_exercise[exercise][3:]:
        assert p.on(exercise).score < 0.5


def test_a_renamed_copy_is_identical_on_every_exercise(ranking):
    gil = next(p for p in ranking.pairs if {p.a, p.b} == {"ben", "gil"})
    assert gil.score == pytest.approx(1.0)
    assert {s.exercise for s in gil.exercises if s.fingerprints >= MIN_SHARED} >= {
        "MyRNN", "lstm_cell", "make_batches", "CharLSTM", "train_epoch", "generate"}
    assert all(s.score == pytest.approx(1.0) for s in gil.exercises)


def test_reordered_methods_and_statements_still_match(ranking):
    hal = next(p for p in ranking.pairs if {p.a, p.b} == {"chen", "hal"})
    for exercise in ("MyRNN", "make_batches", "train_epoch"):
        assert hal.on(exercise).score >= 0.3, (exercise, hal.on(exercise))


def test_independent_solutions_dictated_by_the_docstring_are_listed_but_below_copies(ranking):
    """ana's and fay's CharLSTM are alike (the docstring all but dictates them); overall they stay far below."""
    charlstm = pair_set(ranking.by_exercise["CharLSTM"])
    assert frozenset({"ana", "fay"}) in charlstm[:3]
    overall = pair_set(ranking.pairs)
    assert overall.index(frozenset({"ana", "fay"})) >= len(sc.PLANTED)


def test_the_untouched_release_pairs_with_nobody(ranking):
    assert all("zed" not in (p.a, p.b) for p in ranking.pairs)
    assert all("zed" not in (p.a, p.b) for ps in ranking.by_exercise.values() for p in ps)
    assert ranking.compared["generate"] == 3  # ana, ben, gil wrote generate; the others left the stub


def test_one_liners_everyone_writes_are_not_listed(ranking):
    for exercise in ("to_batch_first", "batch_sequences", "encode", "decode", "build_vocab"):
        assert ranking.by_exercise[exercise] == [], exercise


def test_common_code_is_ignored_in_a_large_cohort(cohort):
    """Fingerprints held by more than max(10, 10 %) of the submissions no longer count."""
    given = sc.release_cells()
    answers = {f"clone{i}": dict(cohort["ana"]) for i in range(12)}  # twelve identical notebooks
    answers.update({"ben": cohort["ben"], "gil": cohort["gil"]})
    found = rank(AnswerSet(list(given), given, answers, "test"))
    assert set(pair_set(found.pairs)) == {frozenset({"ben", "gil"})}
    assert found.common["lstm_cell"] > 0


# --- the page and the command ----------------------------------------------------------------------


def test_page_shows_shared_lines_side_by_side_without_accusing(graded, tmp_path, capsys):
    out = tmp_path / "out"
    assert main_similarity(graded, out) == 0
    assert str(out / SIMILARITY_HTML) in capsys.readouterr().out
    page = (out / SIMILARITY_HTML).read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r'(src|href)="(https?:)?//', page), "self-contained: nothing from the network"
    for word in ("plagiar", "cheat", "copied", "guilty", "suspect"):
        assert word not in page.lower(), word
    assert "not as a finding" in page
    section = page[page.index('id="pair-ben--gil"'):]
    section = section[: section.index("</details>")]
    assert section.count('<div class="side">') >= 6  # one side-by-side view per exercise they share
    assert 'style="background:' in section  # shared lines are highlighted
    data = json.loads((out / SIMILARITY_JSON).read_text())
    assert {frozenset({p["a"], p["b"]}) for p in data["pairs"][:2]} == sc.FULL_COPIES
    assert data["parameters"] == {"k": fpr.K, "window": fpr.W, "common_share": 0.1, "common_min": 10,
                                  "min_shared": MIN_SHARED}


def test_a_folder_of_notebooks_ranks_like_the_grading_folder(tmp_path, cohort):
    cfg = load_config()
    release = nbformat.read(str(cfg.release_notebook), as_version=4)
    for sid, cells in cohort.items():
        nb = nbformat.from_dict(json.loads(json.dumps(release)))
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in cells and cell.metadata["nbgrader"].get("solution"):
                cell.source = cells[gid]
        (tmp_path / "submitted" / sid / cfg.assignment).mkdir(parents=True)
        nbformat.write(nb, str(tmp_path / "submitted" / sid / cfg.assignment / f"{cfg.assignment}.ipynb"))
    found = rank(read_answers(tmp_path / "submitted"))
    # the notebooks carry the cells the release asks for (a given exercise is worked code there)
    asked = {nbc.grade_id(c) for c in release.cells if nbc.is_answer_cell(c)}
    expected = rank(read_answers(sc.write_grading_folder(tmp_path / "graded", {
        sid: {gid: src for gid, src in cells.items() if gid in asked} for sid, cells in cohort.items()})))
    same = lambda r: [(p.a, p.b, round(p.score, 6)) for p in r.pairs]
    assert same(found) == same(expected) and found.pairs


def test_a_relative_folder_of_notebooks_is_read(tmp_path, monkeypatch):
    cfg = load_config()
    release = nbformat.read(str(cfg.release_notebook), as_version=4)
    (tmp_path / "submitted").mkdir()
    for sid in ("ana", "ben"):
        nbformat.write(release, str(tmp_path / "submitted" / f"{sid}.ipynb"))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    for folder in (Path("../submitted"), Path("../work/../submitted")):
        found = read_answers(folder, cfg)
        assert found.source == "notebooks" and sorted(found.answers) == ["ana", "ben"] and not found.notes


def test_not_a_folder_of_answers_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(UserError, match="holds no answers.json and no notebook"):
        read_answers(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "results.json").write_text("{}")
    assert cli_main(["similarity", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "without answers.json" in err and "Traceback" not in err


def test_unreadable_answers_are_noted_not_fatal(graded, tmp_path):
    folder = sc.write_grading_folder(tmp_path / "g", {"ana": sc.independent("ana"), "ben": sc.independent("ben")})
    (folder / "ben" / "answers.json").write_text("{not json")
    answers = read_answers(folder)
    assert list(answers.answers) == ["ana"] and "ben/answers.json could not be read" in answers.notes[0]
