"""course calibrate: the trigram line, the family calibration on a tiny course, calibration.json and its check."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_course import make_course, write_calibration

from autograder.lab_rnn import threshold as th
from autograder.lab_rnn import variants as va
from course.authoring import calibrate
from course.authoring.calibrate import main_calibrate, trigram_perplexity
from course.config import Recipe, load_config
from course.corpus import load_course_corpus
from course.errors import UserError
from course.grader.calibration import CalibrationError, family_digest, load_calibration

REPO = Path(__file__).resolve().parents[2]
# A small family: the reference and a correct alternative, a bug that stops all learning, one that learns anyway.
SMALL_FAMILY = ("reference", "passes-charlstm-one-hot", "fails-train-epoch-zero-grad-after-backward",
                "fails-train-epoch-no-clipping")


def course_folder(tmp_path: Path, monkeypatch, **settings) -> Path:
    """The tiny course (tests/tiny_course.py), used through COURSE_CONFIG."""
    monkeypatch.setenv("COURSE_CONFIG", str(make_course(tmp_path, **settings)))
    torch.set_num_threads(1)
    return tmp_path


@pytest.fixture
def course_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(va, "FAMILY", tuple(calibrate.family_member(load_config(REPO / "course_config.py"), n)
                                            for n in SMALL_FAMILY))
    return course_folder(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def small_calibration(tmp_path_factory) -> tuple[Path, dict]:
    """The small family calibrated once on the tiny course (about 20 s on one thread)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(va, "FAMILY", tuple(calibrate.family_member(load_config(REPO / "course_config.py"), n)
                                       for n in SMALL_FAMILY))
        folder = course_folder(tmp_path_factory.mktemp("course"), mp)
        assert main_calibrate() == 0
        record = json.loads(load_config().calibration_path.read_text())
        load_calibration(load_config(), load_course_corpus(load_config()))  # grading accepts it
    return folder, record


def test_trigram_of_a_periodic_text_is_near_one():
    train = np.tile(np.arange(4), 500)
    streams = np.tile(np.arange(4), 50).reshape(4, 50)
    ppl, _ = trigram_perplexity(train, streams, 4)
    assert 1.0 < ppl < 1.1


def test_trigram_of_random_text_is_near_the_vocabulary_size():
    rng = np.random.default_rng(0)
    ppl, _ = trigram_perplexity(rng.integers(0, 10, 200_000), rng.integers(0, 10, (8, 500)), 10)
    assert 9.5 < ppl < 10.6


def test_trigram_on_the_default_corpus():
    cfg = load_config(REPO / "course_config.py")
    corpus = load_course_corpus(cfg)
    split = th.encode_split(corpus.train, corpus.heldout, cfg.threshold.heldout_streams)
    ppl, lambdas = trigram_perplexity(split.train, split.streams, len(split.vocab))
    assert 5.0 < ppl < 6.5 and sum(lambdas) == pytest.approx(1.0)


def runs_at(record: dict, recipe: dict, family: str) -> list[dict]:
    return [r for r in record["runs"] if r["family"] == family and (r["lr"], r["batch"], r["steps"]) ==
            (recipe["lr"], recipe["batch"], recipe["steps"])]


def test_the_small_calibration_separates_its_families(small_calibration):
    _, record = small_calibration
    recipe, threshold = record["recipe"], record["threshold"]
    correct, broken = runs_at(record, recipe, "correct"), runs_at(record, recipe, "broken")
    assert {r["variant"] for r in correct} == {"reference", "passes-charlstm-one-hot"}
    assert {r["variant"] for r in broken} == {"fails-train-epoch-zero-grad-after-backward"}
    worst = max(r["perplexity"] for r in correct)
    assert threshold == pytest.approx(worst * 1.10, abs=1e-3)  # CALIBRATION_MARGIN
    assert all(r["status"] != "ok" or r["perplexity"] >= threshold * 1.25 for r in broken)  # BROKEN_MARGIN
    assert record["margins"]["correct"] == pytest.approx(1.10, abs=1e-3)
    assert record["margins"]["broken"] >= 1.25
    # The chosen recipe is the cheapest of those that qualify, and every candidate is in the table.
    table = {(r["lr"], r["batch"], r["steps"]): r for r in record["recipes"]}
    assert set(table) == {(1e-2, b, s) for b in (8, 16) for s in (25, 50)}
    chosen = table[(recipe["lr"], recipe["batch"], recipe["steps"])]
    assert chosen["qualifies"] and chosen["threshold"] == threshold
    qualifying = [Recipe(r["lr"], r["batch"], r["steps"]) for r in record["recipes"] if r["qualifies"]]
    assert min(qualifying, key=calibrate.work_order) == Recipe(**recipe)
    assert all(r["cost_cpu_s"] > 0 for r in record["recipes"])


def test_the_small_calibration_lists_what_a_threshold_cannot_catch(small_calibration):
    _, record = small_calibration
    entries = {c.get("variant") or c["bug"]: c for c in record["cannot_catch"]}
    clipping = entries["fails-train-epoch-no-clipping"]
    assert clipping["caught_by"] == ["test_train_epoch_steps_and_clipping: train_epoch makes one optimizer step per "
                                     "window and clips the gradient norm"]
    assert re.fullmatch(r"[01] of 1 seeds", clipping["threshold_catches"])
    assert any("eval mode" in bug for bug in entries)


def test_the_band_comes_from_the_correct_runs_under_the_recipe(small_calibration):
    _, record = small_calibration
    band, recipe = record["band"], record["recipe"]
    correct = runs_at(record, recipe, "correct")
    assert band["steps"] == list(range(25, recipe["steps"] + 1, 25))  # one point per train_epoch call of 25 windows
    assert len(band["loss_low"]) == len(band["loss_high"]) == len(band["steps"])
    assert all(lo <= hi for lo, hi in zip(band["loss_low"], band["loss_high"]))
    assert band["perplexity_low"] == min(r["perplexity"] for r in correct)
    assert band["perplexity_high"] == max(r["perplexity"] for r in correct)


def test_calibration_measures_what_grading_measures(small_calibration):
    """A calibration run at each step count equals run_threshold with that recipe, straight through."""
    folder, record = small_calibration
    cfg = load_config(folder / "course_config.py")
    corpus = load_course_corpus(cfg)
    session = calibrate.InProcessSession(va.variant_namespace(va.BY_NAME["passes-charlstm-one-hot"], cfg),
                                         list(calibrate.op_module_paths(cfg)))
    for steps in (25, 50):
        direct = th.run_threshold(session, corpus, cfg.threshold, Recipe(1e-2, 8, steps), seed=0)
        row = next(r for r in record["runs"] if r["variant"] == "passes-charlstm-one-hot" and r["batch"] == 8
                   and r["steps"] == steps)
        assert row["perplexity"] == round(direct["perplexity"], 4)


def test_training_in_several_processes_gives_the_same_runs(course_dir):
    cfg = load_config()
    runner = calibrate.Runner(cfg, jobs=2, say=lambda _: None)
    runner.ensure(["reference"], [0, 1], [(1e-2, 8)])
    for seed in (0, 1):
        alone = calibrate.train_run(str(cfg.path), "reference", seed, 1e-2, 8, [25, 50])
        got = runner.runs[("reference", seed, 1e-2, 8)]
        assert [p["perplexity"] for p in got["points"]] == [p["perplexity"] for p in alone["points"]]


def test_refuses_when_no_recipe_separates_the_families(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(va, "FAMILY", tuple(calibrate.family_member(load_config(REPO / "course_config.py"), n)
                                            for n in SMALL_FAMILY))
    course_folder(tmp_path, monkeypatch, BROKEN_MARGIN=1000.0,
                  THRESHOLD_CANDIDATES={"lr": (1e-2,), "batch": (8,), "steps": (25,)})
    assert main_calibrate() == 1
    err = capsys.readouterr().err
    assert "no candidate recipe separates the families" in err and "less than the threshold x 1000" in err
    assert not (tmp_path / "autograder" / "lab_rnn" / "calibration.json").exists()


def test_refuses_a_threshold_above_the_trigram_when_asked(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(va, "FAMILY", tuple(calibrate.family_member(load_config(REPO / "course_config.py"), n)
                                            for n in SMALL_FAMILY))
    course_folder(tmp_path, monkeypatch, THRESHOLD_BELOW_TRIGRAM=True,
                  THRESHOLD_CANDIDATES={"lr": (1e-2,), "batch": (8,), "steps": (25,)})
    assert main_calibrate() == 1  # 25 tiny steps are far from a trigram model
    assert "is not below the trigram model's" in capsys.readouterr().err


def write_record(cfg, **changes) -> None:
    recipe = changes.pop("recipe", Recipe(1e-2, 8, 50).as_dict())
    write_calibration(cfg, Recipe(1e-2, 8, 50), changes.pop("threshold", 5.0), **changes)
    record = json.loads(cfg.calibration_path.read_text())
    cfg.calibration_path.write_text(json.dumps({**record, "recipe": recipe}))


@pytest.mark.parametrize("changes, phrase", [
    ({"corpus_sha256": "0" * 64}, "corpus_sha256"),
    ({"torch_version": "1.0.0"}, "torch_version"),
    ({"hidden": 256}, "hidden 256"),
    ({"candidates": {"lr": [2e-3], "batch": [8], "steps": [50]}}, "candidates"),
    ({"families_sha256": "f" * 64}, "families_sha256"),
    ({"threshold": None}, "holds no threshold"),
    ({"recipe": None}, "holds no recipe"),
    ({"recipe": {"lr": 1e-2, "batch": 8, "steps": 75}}, "which is not a candidate"),
])
def test_grading_refuses_a_calibration_made_for_something_else(course_dir, changes, phrase):
    cfg = load_config()
    write_record(cfg, **changes)
    with pytest.raises(CalibrationError, match=re.escape(phrase)) as info:
        load_calibration(cfg, load_course_corpus(cfg))
    assert "run `course calibrate`" in str(info.value)


def test_grading_refuses_without_a_calibration_and_reads_the_recipe(course_dir):
    cfg = load_config()
    with pytest.raises(CalibrationError, match="No threshold calibration .* run `course calibrate`"):
        load_calibration(cfg, load_course_corpus(cfg))
    write_record(cfg)
    calibration = load_calibration(cfg, load_course_corpus(cfg))
    assert calibration.recipe == Recipe(1e-2, 8, 50) and calibration.threshold == 5.0


def test_the_families_digest_follows_the_sources_the_training_runs(course_dir, monkeypatch):
    cfg = load_config()
    before = family_digest(cfg)
    one_hot = calibrate.family_member(cfg, "passes-charlstm-one-hot")
    edited = va.Variant(one_hot.name, {"CharLSTM": one_hot.edits["CharLSTM"].replace("(no embedding layer)", "")},
                        family=one_hot.family)
    monkeypatch.setattr(va, "FAMILY", tuple(edited if v.name == one_hot.name else v for v in va.FAMILY))
    assert family_digest(cfg) != before


def test_the_committed_calibration_matches_the_configuration_and_its_own_table():
    cfg = load_config(REPO / "course_config.py")
    calibration = load_calibration(cfg, load_course_corpus(cfg))
    record, recipe = calibration.record, calibration.recipe.as_dict()
    assert set(record["families"]["correct"]) == {v.name for v in va.FAMILY if v.family == va.CORRECT}
    correct, broken = runs_at(record, recipe, "correct"), runs_at(record, recipe, "broken")
    assert len(correct) == len(record["families"]["correct"]) * len(cfg.threshold.calibration_seeds)
    assert all(r["status"] == "ok" and r["perplexity"] < calibration.threshold for r in correct)
    assert all(r["status"] != "ok" or r["perplexity"] >= calibration.threshold * cfg.threshold.broken_margin
               for r in broken)
    assert record["trigram_perplexity"] > 1 and math.isfinite(record["cost"]["train_cpu_s"])


def test_calibration_trains_the_source_notebooks_solution_cells(course_dir, tmp_path):
    nb = json.loads((REPO / "source" / "lab_rnn" / "lab_rnn.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "train_epoch":
            cell["source"] = "def train_epoch(model, batches, optimizer, clip=1.0):\n    raise ValueError('edited')\n"
    notebook = course_dir / "source" / "lab_rnn" / "lab_rnn.ipynb"
    notebook.unlink()
    notebook.write_text(json.dumps(nb), encoding="utf-8")
    cfg = load_config()
    run = calibrate.train_run(str(cfg.path), "reference", 0, 1e-2, 8, [25, 50])
    assert [p["status"] for p in run["points"]] == ["error", "error"]
    assert "ValueError: edited" in run["points"][0]["message"]


def test_out_may_name_a_folder_and_a_bad_one_fails_before_any_training(tmp_path, monkeypatch):
    (tmp_path / "course").mkdir()
    course_folder(tmp_path / "course", monkeypatch)
    cfg = load_config()
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    assert calibrate.calibration_target(folder, cfg) == folder / "calibration.json"
    assert calibrate.calibration_target(folder / "new" / "c.json", cfg) == folder / "new" / "c.json"
    assert calibrate.calibration_target(None, cfg) == cfg.calibration_path
    (tmp_path / "a-file").write_text("")
    trained = []
    monkeypatch.setattr(calibrate, "run_calibration", lambda *a, **k: trained.append(a))
    with pytest.raises(UserError, match="cannot create"):
        main_calibrate(out=tmp_path / "a-file" / "calibration.json")
    assert not trained


def test_recipes_are_tried_by_their_settings_never_by_their_timing():
    lrs = [Recipe(2e-3, 16, 200), Recipe(1e-2, 16, 200)]
    assert sorted(reversed(lrs), key=calibrate.work_order) == lrs  # same work: the smaller learning rate first
    assert sorted([Recipe(1e-2, 8, 200), Recipe(1e-2, 16, 100)], key=calibrate.work_order)[0].steps == 100


def test_the_committed_recipe_is_the_first_in_work_order_that_qualifies():
    """The committed table, tried in work_order, still gives the committed recipe (every earlier one judged)."""
    record = json.loads(load_config(REPO / "course_config.py").calibration_path.read_text())
    rows = {Recipe(r["lr"], r["batch"], r["steps"]): r for r in record["recipes"] if r["correct_side"]}
    order = sorted(rows, key=calibrate.work_order)
    first = next(r for r in order if rows[r]["qualifies"])
    assert first == Recipe(**record["recipe"])
    assert not any(rows[r]["why"].startswith("broken runs not trained") for r in order[:order.index(first)])


def fake_calibration(monkeypatch, seen: list) -> None:
    """run_calibration replaced by an instant one that records the seeds it was given."""
    def instant(cfg, corpus, seeds, jobs, say):
        seen.append(tuple(seeds))
        return {"threshold": 7.0, "rule": "a test", "trigram_perplexity": 9.0}

    monkeypatch.setattr(calibrate, "run_calibration", instant)


def test_other_seeds_need_another_out_before_any_training(tmp_path, monkeypatch, capsys):
    course_folder(tmp_path, monkeypatch)  # CALIBRATION_SEEDS (0,)
    cfg = load_config()
    seen: list = []
    fake_calibration(monkeypatch, seen)
    for out in (None, cfg.calibration_path.parent):
        with pytest.raises(UserError, match=r"--seeds 5,6 are not CALIBRATION_SEEDS \[0\].*pass --out elsewhere"):
            main_calibrate(seeds=(5, 6), out=out)
    assert not seen and not cfg.calibration_path.exists()
    assert main_calibrate(seeds=(5, 6), out=tmp_path / "seeds-5-6.json") == 0
    assert seen == [(5, 6)] and json.loads((tmp_path / "seeds-5-6.json").read_text())["threshold"] == 7.0
    assert main_calibrate(seeds=(0,)) == 0 and cfg.calibration_path.is_file()  # the configured seeds, written in place


def test_a_calibration_that_cannot_be_written_is_kept_elsewhere(tmp_path, monkeypatch, capsys):
    course_folder(tmp_path, monkeypatch)
    cfg = load_config()
    fake_calibration(monkeypatch, [])
    kept = tmp_path / "tmp"
    kept.mkdir()
    monkeypatch.setattr(calibrate.tempfile, "tempdir", str(kept))

    def full(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(calibrate, "atomic_write", full)
    assert main_calibrate() == 1
    err = capsys.readouterr().err
    copy = next(kept.glob("calibration-*.json"))
    assert f"cannot write {cfg.calibration_path} (No space left on device)" in err and str(copy) in err
    assert json.loads(copy.read_text())["threshold"] == 7.0 and not cfg.calibration_path.exists()
