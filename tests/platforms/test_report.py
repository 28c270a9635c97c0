"""The cohort report: numbers match the gradebook, plots exist, the page is self-contained and renders."""
from __future__ import annotations

import csv
import json
import re
import shutil
import statistics
import subprocess
from pathlib import Path

import pytest
import similarity_cohort as sc
from matplotlib.image import imread

from course.cli import main as cli_main
from course.config import load_config
from course.errors import UserError
from course.grader.results import write_gradebook
from course.platforms.report import OUTPUTS, PLOTS, REPORT_HTML, TIME_BARS_UP_TO, Cohort, main_report, plot_time

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# (exercise, check name, points): a small stand-in for the hidden checks.
CHECKS = [
    ("MyRNN", "output has shape [batch, seq_len, hidden]", 6.0),
    ("MyRNN", "matches nn.RNN with the same weights", 6.0),
    ("encode", "returns a 1-D long tensor", 2.0),
    ("threshold", "the trained model reaches the perplexity threshold", 17.0),
]
MAX_SCORE = sum(p for _, _, p in CHECKS)
# student -> (checks passed, by index; status; perplexity; seconds)
COHORT = {
    "ada": ({0, 1, 2, 3}, "graded", 4.1, 30.0),
    "bob": ({0, 2}, "graded", 9.5, 41.5),
    "cy": ({0, 1, 2, 3}, "graded", 2.1, 28.0),  # below SUSPICIOUS_PERPLEXITY
    "dee": (set(), "rejected", None, 0.2),
    "eve": ({2}, "error", None, 12.0),
}


def results_json(student: str, passed: set[int], status: str, perplexity: float | None, seconds: float) -> dict:
    cfg = load_config()
    tests = []
    if status != "rejected":
        for i, (exercise, name, points) in enumerate(CHECKS):
            ok = i in passed
            tests.append({
                "name": name, "number": str(i + 1), "score": points if ok else 0.0, "max_score": points,
                "status": "passed" if ok else "failed",
                "output": "Passed." if ok else f"{name} failed <b>here</b>",
                "visibility": "after_due_date", "tags": [exercise],
            })
    return {
        "score": sum(t["score"] for t in tests), "execution_time": seconds,
        "output": "The file is not valid JSON." if status == "rejected" else "",
        "output_format": "md", "visibility": "visible", "stdout_visibility": "hidden", "tests": tests,
        "extra_data": {
            "submission_id": student, "student_id": student, "status": status, "isolation": "full",
            "max_autograded": MAX_SCORE, "perplexity": perplexity,
            "suspicious": perplexity is not None and perplexity < cfg.threshold.suspicious_perplexity,
        },
    }


@pytest.fixture
def graded(tmp_path: Path) -> Path:
    """A grading folder as `course grade --out` leaves it."""
    folder = tmp_path / "graded"
    rows = []
    for student, (passed, status, ppl, seconds) in COHORT.items():
        results = results_json(student, passed, status, ppl, seconds)
        (folder / student).mkdir(parents=True)
        (folder / student / "results.json").write_text(json.dumps(results))
        rows.append({"student_id": student, "timestamp": "", "score": results["score"],
                     "max_score": MAX_SCORE, "status": status})
    write_gradebook(folder / "gradebook.csv", load_config(), rows)
    return folder


def stat(page: str, key: str) -> str:
    match = re.search(rf'data-key="{key}"><span class="value">([^<]*)</span>', page)
    assert match, f"headline {key} missing from the report"
    return match.group(1)


def test_report_writes_html_and_plots(graded: Path, capsys):
    assert main_report(graded) == 0
    out = graded / "report"
    assert str(out / REPORT_HTML) in capsys.readouterr().out
    for name in OUTPUTS:
        assert (out / name).is_file(), f"{name} was not written"
    for name in PLOTS.values():
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000, f"{name} is not a real plot"


def test_headline_numbers_match_the_gradebook(graded: Path):
    main_report(graded)
    page = (graded / "report" / REPORT_HTML).read_text()
    with (graded / "gradebook.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    scores = [float(r["score"]) for r in rows]
    assert stat(page, "count") == str(len(rows)) == "5"
    assert stat(page, "mean") == f"{statistics.fmean(scores):.2f}"
    assert stat(page, "median") == f"{statistics.median(scores):.2f}"
    assert stat(page, "full_marks") == str(sum(float(r["score"]) == MAX_SCORE for r in rows)) == "2"
    assert stat(page, "rejected") == str(sum(r["status"] == "rejected" for r in rows)) == "1"
    assert stat(page, "errors") == "1"
    assert stat(page, "suspicious") == "1"  # cy's 2.1


def test_per_check_pass_rates(graded: Path):
    main_report(graded)
    page = (graded / "report" / REPORT_HTML).read_text()
    rows = re.findall(r'<tr data-exercise="([^"]*)" data-check="([^"]*)">.*?<td class="num">(\d+)/(\d+)</td>', page)
    found = {(ex, name): (int(p), int(t)) for ex, name, p, t in rows}
    # Four submissions ran checks (dee was rejected before any check).
    expected = {}
    for i, (exercise, name, _) in enumerate(CHECKS):
        ran = [s for s, (_, status, _, _) in COHORT.items() if status != "rejected"]
        expected[(exercise, name)] = (sum(i in COHORT[s][0] for s in ran), len(ran))
    assert found == expected
    assert [ex for ex, _, _, _ in rows] == ["MyRNN", "MyRNN", "encode", "threshold"]  # grouped by exercise


def test_failures_table_counts_and_escapes(graded: Path):
    main_report(graded)
    page = (graded / "report" / REPORT_HTML).read_text()
    table = page.split('id="failures"')[1].split("</table>")[0]
    # "matches nn.RNN..." failed for bob and eve; the rejection reason once.
    assert re.search(r'<td class="num">2</td><td>matches nn.RNN with the same weights failed &lt;b&gt;here', table)
    assert re.search(r'<td class="num">1</td><td>The file is not valid JSON.</td><td>\(file rejected\)', table)
    assert "<b>here" not in page, "messages must be HTML-escaped"


def test_page_is_self_contained(graded: Path):
    main_report(graded)
    page = (graded / "report" / REPORT_HTML).read_text()
    assert page.count('src="data:image/png;base64,') == len(PLOTS)
    assert not re.search(r'(src|href)="(https?:)?//', page), "the report must not load anything from the network"
    assert "<style>" in page and "stylesheet" not in page


def test_output_names_are_stable(graded: Path, tmp_path: Path):
    out = tmp_path / "elsewhere"
    main_report(graded, out)
    first = sorted(p.name for p in out.iterdir())
    main_report(graded, out)
    assert sorted(p.name for p in out.iterdir()) == first == sorted(OUTPUTS)


def test_threshold_from_calibration_or_said_missing(graded: Path, tmp_path: Path, monkeypatch):
    course = tmp_path / "course"
    (course / "autograder" / "lab_rnn").mkdir(parents=True)
    shutil.copy(REPO / "course_config.py", course / "course_config.py")
    monkeypatch.setenv("COURSE_CONFIG", str(course / "course_config.py"))
    main_report(graded)
    assert "No calibration at" in (graded / "report" / REPORT_HTML).read_text()
    (course / "autograder" / "lab_rnn" / "calibration.json").write_text(json.dumps({"threshold": 4.567}))
    main_report(graded)
    assert "threshold 4.567 from calibration.json" in (graded / "report" / REPORT_HTML).read_text()


@pytest.mark.parametrize("layout", ["missing", "empty", "results_only", "empty_gradebook", "foreign_csv"])
def test_not_a_grading_folder_is_a_clear_error(tmp_path: Path, layout: str):
    folder = tmp_path / "dir"
    if layout != "missing":
        folder.mkdir()
    if layout == "results_only":
        (folder / "ada").mkdir()
        (folder / "ada" / "results.json").write_text("{}")
    if layout == "empty_gradebook":
        write_gradebook(folder / "gradebook.csv", load_config(), [])
    if layout == "foreign_csv":
        (folder / "gradebook.csv").write_text("name,grade\nada,10\n")
    expected = {"missing": "is not a folder", "empty": "is not a grading folder", "results_only": "--resume",
                "empty_gradebook": "lists no submissions", "foreign_csv": "lacks the column"}[layout]
    with pytest.raises(UserError, match=expected):
        main_report(folder)
    assert not (folder / "report").exists()


def test_cli_prints_the_error_without_a_traceback(tmp_path: Path, capsys):
    assert cli_main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is not a grading folder" in err and "Traceback" not in err


@pytest.mark.slow
def test_report_renders_in_headless_chromium(graded: Path, tmp_path: Path):
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (/usr/bin/chromium): run `make system-deps` as root")
    main_report(graded)
    shot = tmp_path / "shot.png"
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,1400", f"--screenshot={shot}",
           (graded / "report" / REPORT_HTML).resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), f"Chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-1500:]}"
    pixels = imread(shot)  # [height, width, channels], floats in [0, 1]
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 900
    gray = pixels[..., :3].mean(axis=-1)
    assert (gray < 0.5).mean() > 0.005, "the screenshot is blank: the page did not render"
    assert gray.std() > 0.05


# --- item analysis, diagnosed mistakes, similarity -------------------------------------------------------


def row(page: str, table_id: str, check: str) -> str:
    table = page.split(f'id="{table_id}"')[1].split("</table>")[0]
    match = re.search(rf'<tr data-check="{re.escape(check)}"[^>]*>.*?</tr>', table, re.S)
    assert match, f"{check} missing from {table_id}"
    return match.group(0)


def test_item_analysis_flags_and_discrimination(graded: Path):
    main_report(graded)
    page = (graded / "report" / REPORT_HTML).read_text()
    # Graded: ada and cy pass everything, bob passes checks 0 and 2 (eve's grader error and dee's rejection
    # are left out). "matches nn.RNN": x = [1, 0, 1], rest = total - 6 x = [25, 8, 25]: r = 1; groups of
    # round(0.27 * 3) = 1: the upper one passes, the lower one fails, D = 1.
    matches = row(page, "item-checks", "matches nn.RNN with the same weights")
    assert 'data-flags=""' in matches and re.findall(r'<td class="num">([-\d.]+)</td>', matches)[-3:] == [
        "0.67", "1.00", "1.00"]
    # Every graded submission passes checks 0 and 2: flagged, r undefined.
    easy = row(page, "item-checks", "returns a 1-D long tensor")
    assert 'data-flags="all_pass"' in easy and "does not tell students apart" in easy and "&ndash;" in easy
    assert ('id="flag-summary">2 of 4 checks flagged: #1 output has shape [batch, seq_len, hidden], '
            "#3 returns a 1-D long tensor.") in page
    assert "With 3 graded submissions, r and D are noisy" in page


def test_diagnosed_mistakes_count_graded_failures(graded: Path):
    main_report(graded)
    page = (graded / "report" / REPORT_HTML).read_text()
    table = page.split('<table class="mistakes" data-check="matches nn.RNN with the same weights">')[1]
    table = table.split("</table>")[0]
    assert re.findall(r'data-category="(\w+)" data-students="(\d+)"', table) == [("A", "1")]  # bob only
    assert "matches nn.RNN with the same weights failed &lt;b&gt;here" in table


def test_similarity_section_lists_the_copied_pair(graded: Path):
    for student, author in [("ada", sc.independent("ben")), ("bob", sc.gil()), ("cy", sc.independent("ana"))]:
        (graded / student / "answers.json").write_text(json.dumps({"submission_id": student, "answers": author}))
    main_report(graded)
    out = graded / "report"
    page = (out / REPORT_HTML).read_text()
    section = page.split("<h2>Similar submissions: pairs to review</h2>")[1]
    first = re.search(r'<tr data-a="([^"]+)" data-b="([^"]+)">', section)
    assert (first.group(1), first.group(2)) == ("ada", "bob")
    assert 'href="similarity.html#pair-ada--bob"' in section
    assert 'id="pair-ada--bob"' in (out / "similarity.html").read_text()
    assert "2 graded submission(s) have no answers.json" in section  # dee and eve


def test_without_answers_the_report_says_why(graded: Path):
    main_report(graded)
    page = (graded / "report" / REPORT_HTML).read_text()
    assert "No similarity pass:" in page and "without answers.json" in page


def test_grading_times_of_a_large_cohort_are_a_histogram(tmp_path: Path):
    many = {f"s{i:03d}": results_json(f"s{i:03d}", {0}, "graded", 4.0, 30.0 + i) for i in range(TIME_BARS_UP_TO + 10)}
    plot_time(Cohort(rows=[], results=many), tmp_path / "time.png")
    assert imread(tmp_path / "time.png").shape[0] < 500, "one bar per submission would be thousands of pixels tall"
