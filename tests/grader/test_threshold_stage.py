"""The grader-run training as a stage of its own: the cells it runs, its cache, and what a timed-out probe stops."""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import nbfactory
import pytest
from rich.console import Console
from tiny_course import make_course, write_calibration

from course.config import Recipe, load_config
from course.grader import grade
from course.grader.assemble import assemble
from course.grader.batch import run_grade
from course.grader.threshold_cache import ThresholdCache, needed_cells

pytestmark = pytest.mark.slow
RECIPE = Recipe(1e-2, 8, 25)
SYMBOLS = ("CharLSTM", "train_epoch")
NEVER_RETURNS = "\n    while True:\n        pass\n"


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    """A course whose grader-run training is 25 steps of a tiny model (calibration.json written by hand)."""
    path = make_course(tmp_path_factory.mktemp("course"), CHECK_TIMEOUT_S=4,
                       THRESHOLD_CANDIDATES={"lr": (1e-2,), "batch": (8,), "steps": (25,)})
    cfg = load_config(path)
    write_calibration(cfg, RECIPE, threshold=1000.0)
    return cfg


def graded(cfg, out: Path, submissions: dict[str, dict], cache: bool = True, checks: str = "threshold") -> dict:
    """Grade the notebooks (name -> notebook) into ``out`` with the course's training; their results.json by name."""
    folder = out.parent / f"in-{len(list(out.parent.glob('in-*')))}"
    folder.mkdir()
    for name, nb in submissions.items():
        nbfactory.write(nb, folder / f"{name}.ipynb")
    quiet = Console(file=io.StringIO())
    assert run_grade([folder], out, jobs=2, config_path=str(cfg.path), checks=checks, console=quiet, cache=cache) == 0
    return {name: json.loads((out / name / "results.json").read_text()) for name in submissions}


def training(results: dict) -> tuple:
    extra = results["extra_data"]
    return extra["threshold_cache"], extra["perplexity"], extra["training_curve"]


def test_the_training_runs_only_the_cells_it_needs():
    nb = nbfactory.with_answers(generate=nbfactory.answer_source("generate") + "\nstate = None  # unrelated\n")
    cells = needed_cells(assemble(nbfactory.solution(), nb).cells, SYMBOLS)
    assert [cid for cid, _ in cells] == ["setup", "CharLSTM", "train_epoch"]
    helper = "def mean(values):\n    return sum(values) / len(values)\n"
    uses_helper = nbfactory.answer_source("train_epoch").replace("return total / len(batches)",
                                                                 "return mean([total]) / len(batches)")
    nb = nbfactory.with_answers(make_batches=nbfactory.answer_source("make_batches") + "\n" + helper,
                                train_epoch=uses_helper)
    cells = needed_cells(assemble(nbfactory.solution(), nb).cells, SYMBOLS)
    assert [cid for cid, _ in cells] == ["setup", "make_batches", "CharLSTM", "train_epoch"]  # found, in order


@pytest.mark.parametrize(("extra", "kept"), [
    ("CharLSTM.forward = lambda self, x, state=None: None", True),  # patched through an attribute
    ("globals()['train_epoch'] = None", True),
    ("setattr(CharLSTM, 'forward', None)", True),
    ("x = 1\nglobal x", True),  # symtable refuses what ast accepts: unparseable, kept
    ("y = " + "-" * 100_000 + "1", True),  # the parser's recursion limit: kept, no crash
    ("counts = {}\ncounts['a'] = 1", False),  # an item store into an unrelated name
])
def test_a_cell_that_may_rebind_the_trainings_names_is_kept(extra, kept):
    nb = nbfactory.with_answers(generate=nbfactory.answer_source("generate") + "\n" + extra + "\n")
    cells = needed_cells(assemble(nbfactory.solution(), nb).cells, SYMBOLS)
    assert ("generate" in [cid for cid, _ in cells]) == kept


def test_a_regrade_and_a_resubmission_of_other_exercises_reuse_the_training(cfg, tmp_path):
    out = tmp_path / "out"
    solution = nbfactory.solution()
    one_hot = nbfactory.with_answers(CharLSTM=SOLUTION_ONE_HOT)
    first = graded(cfg, out, {"alice": solution, "bob": one_hot})
    (a_cache, a_ppl, a_curve), (b_cache, b_ppl, _) = training(first["alice"]), training(first["bob"])
    assert a_cache == b_cache == "stored" and a_ppl != b_ppl  # two programs, two trainings, two entries
    assert len(list(ThresholdCache(out / ".cache" / "threshold").folder.glob("*.json"))) == 2
    assert a_curve["steps"] == [25] and "threshold_worker" in first["alice"]["extra_data"]["timings"]

    # The same batch again (after a change to the checks, say): the trainings are reused, none runs.
    again = graded(cfg, out, {"alice": solution})["alice"]
    assert training(again) == ("reused", a_ppl, a_curve)
    assert "threshold_worker" not in again["extra_data"]["timings"]
    assert again["tests"] == first["alice"]["tests"]

    # A resubmission that changed only generate: the same training.
    other_generate = nbfactory.with_patched("generate", "temperature == 0", "temperature <= 0", solution)
    assert training(graded(cfg, out, {"alice": other_generate})["alice"])[:2] == ("reused", a_ppl)

    # One that changed train_epoch trains again, and so does a grading without the cache.
    other_train = nbfactory.with_patched("train_epoch", "total += loss.item()", "total = total + loss.item()",
                                         solution)
    assert training(graded(cfg, out, {"alice": other_train})["alice"])[0] == "stored"
    assert training(graded(cfg, out, {"alice": solution}, cache=False)["alice"])[:2] == ("not stored", a_ppl)
    assert len(list((out / ".cache" / "threshold").glob("*.json"))) == 3


def test_the_key_follows_the_recipe_the_corpus_torch_and_the_code(cfg, monkeypatch):
    cells = needed_cells(assemble(nbfactory.solution(), nbfactory.solution()).cells, SYMBOLS)
    lab = SimpleNamespace(threshold=SimpleNamespace(__file__=str(cfg.autograder_dir / "threshold.py")),
                          op_modules=tuple(sorted((cfg.autograder_dir / "worker").glob("*.py"))))

    def key(recipe=RECIPE, sha="a" * 64, cells=cells):
        ctx = SimpleNamespace(cfg=cfg, lab=lab, corpus=SimpleNamespace(sha256=sha),
                              calibration=SimpleNamespace(recipe=recipe))
        return grade.threshold_key(ctx, cells)

    base = key()
    assert key() == base
    assert key(recipe=Recipe(1e-2, 8, 50)) != base and key(recipe=Recipe(2e-3, 8, 25)) != base
    assert key(sha="b" * 64) != base
    changed = [(cid, src + "\n# edited\n" if cid == "CharLSTM" else src) for cid, src in cells]
    assert key(cells=changed) != base
    monkeypatch.setattr(grade.torch, "__version__", "0.0.0")
    assert key() != base
    monkeypatch.undo()
    monkeypatch.setattr(grade, "GRADER_VERSION", "0")
    assert key() != base


def test_a_broken_or_foreign_cache_entry_is_not_trusted(tmp_path):
    store = ThresholdCache(tmp_path)
    key, other = "1" * 64, "2" * 64
    assert store.put(key, {"status": "ok", "perplexity": 4.0})
    shutil.copy(store.path(key), store.path(other))  # an entry stored under another key
    assert store.get(key) == {"status": "ok", "perplexity": 4.0} and store.get(other) is None
    store.path(key).write_text("{half")
    assert store.get(key) is None
    assert not store.put(key, {"status": "timeout"})  # the machine's doing, not the code's: never stored
    with pytest.raises(ValueError):
        store.path("../../etc/passwd")


def test_after_a_timeout_the_exercise_waits_no_more(cfg, tmp_path):
    """lstm_cell and CharLSTM never return: one timeout each, their other probes and the training not run."""
    lstm_cell = nbfactory.answer_source("lstm_cell").replace('    """One LSTM', NEVER_RETURNS + '    """One LSTM')
    char_lstm = nbfactory.answer_source("CharLSTM").replace(
        "        emb = self.drop", NEVER_RETURNS.replace("\n    ", "\n        ") + "        emb = self.drop")
    nb = nbfactory.with_answers(lstm_cell=lstm_cell, CharLSTM=char_lstm)
    results = graded(cfg, tmp_path / "out", {"stuck": nb}, checks="lstm_cell or charlstm or threshold")["stuck"]
    assert results["extra_data"]["probes_timed_out"] == {"lstm_cell": 4.0, "CharLSTM": 4.0}
    outputs = {t["name"]: t["output"] for t in results["tests"]}
    lstm = [o for t, o in outputs.items() if "lstm_cell" in t]
    assert len(lstm) == 3 and any("did not finish within 4 s" in o for o in lstm)
    assert any("Not run: an earlier call of lstm_cell did not finish within 4 s." in o for o in lstm)
    threshold = next(o for t, o in outputs.items() if "threshold" in t)
    assert "Not run: an earlier call of CharLSTM did not finish within 4 s. The grader did not train" in threshold
    assert results["extra_data"]["threshold_cache"] is None


SOLUTION_ONE_HOT = '''
class CharLSTM(nn.Module):
    def __init__(self, vocab_size, embed_size=64, hidden_size=256, num_layers=1, dropout=0.0):
        super().__init__()
        self.vocab_size = vocab_size
        self.lstm = nn.LSTM(vocab_size, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, state=None):
        out, state = self.lstm(F.one_hot(x, self.vocab_size).float(), state)
        return self.head(out), state
'''
