"""Smoke test of bench/grading.py: both graders run on tiny sizes and the report is complete."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.xdist_group("bench")
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
