"""Smoke test of bench/grading.py: both graders run on tiny sizes and the report is complete."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_grading_benchmark_quick(tmp_path):
    out = tmp_path / "grading.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "grading.py"), "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["submissions"] == 2 and result["variants"] == ["solution", "untouched-release"]
    for key in ("course_grade_s", "nbgrader_autograde_s"):
        assert 0 < result[key]["min"] <= result[key]["median"] <= result[key]["max"]
    assert result["ratio_median"] > 0
    assert result["peak_worker_mb"]["course"] > 0 and result["peak_worker_mb"]["nbgrader"] > 0
    assert set(result["course_grade_throughput"]) == {"1", "2"}
    assert result["as_used"] is None  # the notebook's own training: too long for a smoke test
    assert result["regrade"]["per_submission"]["median"] > 0 and set(result["load"]) >= {"start", "jobs2", "regrade"}
    assert {"start_worker", "probes", "judge", "execution_time"} <= set(result["breakdown_jobs2_solution"])


def test_submissions_carry_the_graders_training_budget(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_grading", REPO / "bench" / "grading.py")
    grading = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grading)
    # a mutant of another exercise trains the solution's CharLSTM and train_epoch: it must not share its cache entry
    chosen = {k: v for k, v in grading.variants().items() if k in (*grading.QUICK_VARIANTS, "fails-lstm-gate-order")}
    subs = grading.write_submissions(chosen, 2, 37, tmp_path)
    assert [s.name for s in subs] == ["solution-0.ipynb", "solution-1.ipynb", "untouched-release-0.ipynb",
                                      "untouched-release-1.ipynb", "fails-lstm-gate-order-0.ipynb",
                                      "fails-lstm-gate-order-1.ipynb"]
    recipe = json.loads((REPO / "autograder" / "lab_rnn" / "calibration.json").read_text())["recipe"]
    assert grading.parameters_override(37)["BATCH_SIZE"] == recipe["batch"]
    assert grading.parameters_override(37)["LR"] == recipe["lr"]
    charlstm = set()
    for sub in subs:
        cells = json.loads(sub.read_text())["cells"]
        params = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
        source = "".join(params[0]["source"])
        for name, value in grading.parameters_override(37).items():
            assert f"\n{name} = {value!r}  " in "\n" + source, (name, source)
        assert not any(c.get("id") == "threshold-estimate" for c in cells)  # one training on each side
        charlstm.add("".join(next(c["source"] for c in cells if c["metadata"].get("nbgrader", {}).get("grade_id")
                                  == "CharLSTM")))
        corpus = next(c for c in cells if c.get("id") == "load-corpus")
        assert f'CORPUS_FILE = "{REPO / "corpus" / "pydoc_topics.txt"}"' in "".join(corpus["source"])
    assert len(charlstm) == 6  # every copy differs: none reuses another's cached training
