"""course calibrate: the trigram baseline, the refusal rule, calibration.json and its validity check."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from autograder.lab_rnn import threshold as th
from course.authoring import calibrate
from course.authoring.calibrate import main_calibrate, trigram_perplexity
from course.config import load_config
from course.corpus import default_corpus_text, load_course_corpus
from course.grader.calibration import CalibrationError, calibration_key, check_calibration

REPO = Path(__file__).resolve().parents[2]
TINY = {"THRESHOLD_STEPS": 3, "THRESHOLD_EMBED": 8, "THRESHOLD_HIDDEN": 16, "THRESHOLD_BATCH": 8,
        "THRESHOLD_SEQ_LEN": 20, "CALIBRATION_SEEDS": (0, 1)}


@pytest.fixture
def course_dir(tmp_path, monkeypatch) -> Path:
    """A course folder with a tiny threshold configuration, a small corpus, the lab's grading files and the source
    notebook (calibration trains its solution cells)."""
    text = (REPO / "course_config.py").read_text()
    settings = {**TINY, "CORPUS_PATH": "corpus.txt"}
    for name, value in settings.items():
        text, count = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", text, flags=re.M)
        assert count == 1, name
    (tmp_path / "course_config.py").write_text(text)
    (tmp_path / "corpus.txt").write_text(default_corpus_text()[:24_000], encoding="utf-8")
    lab = tmp_path / "autograder" / "lab_rnn"
    lab.mkdir(parents=True)
    for name in ("__init__.py", "worker", "checks", "threshold.py"):
        (lab / name).symlink_to(REPO / "autograder" / "lab_rnn" / name)
    (tmp_path / "source" / "lab_rnn").mkdir(parents=True)
    (tmp_path / "source" / "lab_rnn" / "lab_rnn.ipynb").symlink_to(REPO / "source" / "lab_rnn" / "lab_rnn.ipynb")
    monkeypatch.setenv("COURSE_CONFIG", str(tmp_path / "course_config.py"))
    torch.set_num_threads(1)
    return tmp_path


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
    split = th.encode_split(corpus.train, corpus.heldout, cfg.threshold.batch)
    ppl, lambdas = trigram_perplexity(split.train, split.streams, len(split.vocab))
    assert 5.0 < ppl < 6.5 and sum(lambdas) == pytest.approx(1.0)


def test_refuses_a_threshold_that_a_trigram_model_would_pass(course_dir, capsys):
    assert main_calibrate() == 1  # 3 steps: the reference is still near uniform
    assert "not below the trigram" in capsys.readouterr().err
    assert not (course_dir / "autograder" / "lab_rnn" / "calibration.json").exists()


def test_writes_a_calibration_that_grading_accepts(course_dir, monkeypatch):
    monkeypatch.setattr(calibrate, "trigram_perplexity", lambda *args: (1e9, (0.9, 0.05, 0.05)))
    assert main_calibrate() == 0
    cfg = load_config()
    record = json.loads(cfg.calibration_path.read_text())
    runs = [record["runs"][str(s)]["perplexity"] for s in TINY["CALIBRATION_SEEDS"]]
    assert record["steps"] == 3 and record["hidden"] == 16 and record["torch_version"] == torch.__version__
    assert record["threshold"] == pytest.approx(max(runs) * cfg.threshold.margin, abs=1e-3)
    assert "worst reference seed" in record["rule"] and record["trigram_perplexity"] == 1e9
    check_calibration(cfg, load_course_corpus(cfg))


def write_record(cfg, **changes) -> None:
    corpus = load_course_corpus(cfg)
    record = {**calibration_key(cfg, corpus), "threshold": 5.0, **changes}
    cfg.calibration_path.write_text(json.dumps(record))


@pytest.mark.parametrize("changes, phrase", [
    ({"corpus_sha256": "0" * 64}, "corpus_sha256"),
    ({"torch_version": "1.0.0"}, "torch_version"),
    ({"steps": 300}, "steps 300"),
    ({"hidden": 256}, "hidden 256"),
    ({"threshold": None}, "holds no threshold"),
])
def test_grading_refuses_a_calibration_made_for_something_else(course_dir, changes, phrase):
    cfg = load_config()
    write_record(cfg, **changes)
    with pytest.raises(CalibrationError, match=re.escape(phrase)) as info:
        check_calibration(cfg, load_course_corpus(cfg))
    assert "run `course calibrate`" in str(info.value)


def test_grading_refuses_without_a_calibration(course_dir):
    cfg = load_config()
    with pytest.raises(CalibrationError, match="No threshold calibration .* run `course calibrate`"):
        check_calibration(cfg, load_course_corpus(cfg))
    write_record(cfg)
    check_calibration(cfg, load_course_corpus(cfg))


def test_the_committed_calibration_matches_the_configuration():
    cfg = load_config(REPO / "course_config.py")
    check_calibration(cfg, load_course_corpus(cfg))
    record = json.loads(cfg.calibration_path.read_text())
    assert record["threshold"] < record["trigram_perplexity"]


def test_calibration_trains_the_source_notebooks_solution_cells(course_dir):
    nb = json.loads((REPO / "source" / "lab_rnn" / "lab_rnn.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "train_epoch":
            cell["source"] = "def train_epoch(model, batches, optimizer, clip=1.0):\n    raise ValueError('edited')\n"
    notebook = course_dir / "source" / "lab_rnn" / "lab_rnn.ipynb"
    notebook.unlink()
    notebook.write_text(json.dumps(nb), encoding="utf-8")
    cfg = load_config()
    assert set(calibrate.reference_namespace(cfg)) >= {"CharLSTM", "train_epoch", "torch", "nn", "F"}
    with pytest.raises(CalibrationError, match="the reference solution failed with seed 0: .*ValueError: edited"):
        calibrate.run_calibration(cfg, load_course_corpus(cfg), (0,), 3, say=lambda _: None)
