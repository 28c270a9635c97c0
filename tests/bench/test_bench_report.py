"""Smoke test of bench/report.py: a small synthetic cohort through `course report` and `course similarity`."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_report_benchmark_quick(tmp_path):
    out = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "report.py"), "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["submissions"] == 40 and result["checks"] > 40
    assert result["report_s"] > 0 and result["similarity_s"] > 0
    assert result["planted_in_top"] == result["planted_pairs"] == 10, "the planted copies rank first"
    report = tmp_path / "cohort-40" / "report"
    for name in ("report.html", "similarity.html", "item_analysis.png", "mistakes.png"):
        assert (report / name).is_file(), name
