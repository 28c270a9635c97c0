"""results.json follows Gradescope's schema; feedback and gradebook are built from it alone."""
import csv
import json
from pathlib import Path
from types import SimpleNamespace

from course.config import load_config
from course.grader.assemble import Assembly
from course.grader.results import (
    GRADEBOOK_COLUMNS,
    build_results,
    feedback_markdown,
    summary_row,
    write_gradebook,
    write_submission,
)
from course.grader.state import Context, Options, State
from course.grader.submission import Submission


def make_state(tmp_path: Path, checks, rejected=None) -> State:
    cfg = load_config()
    ctx = Context(cfg=cfg, lab=SimpleNamespace(checks_dir=tmp_path), corpus=None, options=Options(),
                  isolation_name="bwrap", out_dir=tmp_path / "out")
    sub = Submission("alice", tmp_path / "alice.ipynb", "alice", "2026-12-01 10:00:00")
    st = State(sub=sub, ctx=ctx, work=tmp_path, rejected=rejected, checks=checks)
    st.assembly = Assembly(notes=["No answer cell for `decode` was found"])
    st.threshold = {"perplexity": 4.61, "suspicious": False, "steps_taken": 500}
    return st


CHECKS = [
    {"name": "MyRNN matches nn.RNN", "points": 4.0, "tags": ["MyRNN"], "visibility": None, "passed": True,
     "message": ""},
    {"name": "decode round trip", "points": 2.0, "tags": ["decode", "encode"], "visibility": "visible",
     "passed": False, "message": "decode(encode(s)) should give s back"},
]


def test_results_follow_the_gradescope_schema(tmp_path):
    results = build_results(make_state(tmp_path, CHECKS))
    assert results["score"] == 4.0
    assert set(results) >= {"score", "execution_time", "output", "tests", "visibility", "stdout_visibility"}
    first, second = results["tests"]
    assert first == {"name": "MyRNN matches nn.RNN", "number": "1", "score": 4.0, "max_score": 4.0,
                     "status": "passed", "output": "Passed.", "visibility": "after_due_date", "tags": ["MyRNN"]}
    assert second["status"] == "failed" and second["score"] == 0.0 and second["visibility"] == "visible"
    assert "decode" in results["output"] and "graded by hand" in results["output"]
    assert results["extra_data"]["isolation"] == "bwrap" and results["extra_data"]["perplexity"] == 4.61


def test_a_rejected_file_scores_zero_with_its_reason(tmp_path):
    results = build_results(make_state(tmp_path, [], rejected="The file is not UTF-8 text."))
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"].startswith("The file is not UTF-8 text.")
    assert results["extra_data"]["status"] == "rejected"


def test_feedback_lists_what_to_fix(tmp_path):
    results = build_results(make_state(tmp_path, CHECKS))
    text = feedback_markdown(results, "hello from the student\n")
    assert f"**Autograded score: 4 / {load_config().autograded_points}**" in text
    assert "| `decode` | 0 / 2 | 0 / 1 |" in text
    assert "decode(encode(s)) should give s back" in text
    assert "hello from the student" in text


def test_homework_checks_are_reported_for_no_points(tmp_path):
    """An optional exercise's checks: in results.json with max_score 0 and their weight, labelled in the feedback."""
    homework = {"name": "lstm_cell equals nn.LSTMCell", "points": 0.0, "weight": 4.0, "mode": "optional",
                "tags": ["lstm_cell"], "visibility": None, "passed": False, "message": "check the gate order"}
    results = build_results(make_state(tmp_path, [*CHECKS, {**CHECKS[0], "mode": "graded", "weight": 4.0}, homework]))
    test = next(t for t in results["tests"] if t["name"] == homework["name"])  # in notebook order, not last
    assert (test["score"], test["max_score"], test["status"]) == (0.0, 0.0, "failed")
    assert test["extra_data"] == {"mode": "optional", "weight": 4.0}
    assert all("extra_data" not in t for t in results["tests"] if t is not test)  # a graded check carries none
    assert results["score"] == 8.0
    text = feedback_markdown(results, "")
    assert "| `lstm_cell` | homework, not counted | 0 / 1 |" in text
    assert "- **lstm_cell equals nn.LSTMCell** (homework): check the gate order" in text


def test_the_summary_names_only_exercises_that_lost_points(tmp_path):
    homework = {"name": "lstm_cell equals nn.LSTMCell", "points": 0.0, "weight": 4.0, "mode": "optional",
                "tags": ["lstm_cell"], "visibility": None, "passed": False, "message": "check the gate order"}
    st = make_state(tmp_path, [*CHECKS, homework])
    assert summary_row(st)["failed_exercises"] == ["decode"]  # the failed homework check costs nothing


def test_write_submission_and_gradebook(tmp_path):
    st = make_state(tmp_path, CHECKS)
    write_submission(st)
    folder = tmp_path / "out" / "alice"
    assert json.loads((folder / "results.json").read_text())["score"] == 4.0
    assert (folder / "feedback.md").read_text().startswith("# Feedback for alice")
    assert not list(folder.glob(".*"))  # no temporary files left behind
    rows = [{"student_id": "alice", "timestamp": "t", "score": 4.0, "max_score": 100.0, "status": "graded"},
            {"student_id": "bob", "timestamp": "", "score": 0.0, "max_score": 100.0, "status": "rejected"}]
    write_gradebook(tmp_path / "gradebook.csv", st.ctx.cfg, rows)
    with open(tmp_path / "gradebook.csv") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == GRADEBOOK_COLUMNS
    assert [(r["student_id"], r["score"], r["max_score"], r["status"]) for r in table] == [
        ("alice", "4", "100", "graded"), ("bob", "0", "100", "rejected")]
    assert table[0]["assignment"] == "lab_rnn"


def test_feedback_follows_the_notebook_order(tmp_path):
    results = build_results(make_state(tmp_path, CHECKS))
    text = feedback_markdown(results, "", order=["decode", "MyRNN"])
    assert text.index("| `decode` |") < text.index("| `MyRNN` |")
    text = feedback_markdown(results, "", order=["MyRNN", "decode"])
    assert text.index("| `MyRNN` |") < text.index("| `decode` |")


def test_tests_follow_the_notebook_order_with_the_threshold_last(tmp_path):
    """results.json lists the checks exercise by exercise as the notebook has them, whatever the check files' order."""
    def check(name, exercise):
        return {"name": name, "points": 1.0, "tags": [exercise], "visibility": None, "passed": True, "message": ""}

    in_file_order = [check("threshold reached", "threshold"), check("generate greedy", "generate"),
                     check("MyRNN shape", "MyRNN"), check("decode text", "decode"), check("MyRNN grads", "MyRNN"),
                     check("helper", "not_an_exercise"), check("lstm gates", "lstm_cell")]
    results = build_results(make_state(tmp_path, in_file_order))
    names = [t["name"] for t in results["tests"]]
    assert names == ["MyRNN shape", "MyRNN grads", "lstm gates", "decode text", "generate greedy", "helper",
                     "threshold reached"]
    assert [t["number"] for t in results["tests"]] == [str(i) for i in range(1, 8)]
    exercises = [t["tags"][0] for t in results["tests"]]
    notebook = [e for e in load_config().points if e in exercises]
    assert [e for e in dict.fromkeys(exercises) if e != "not_an_exercise"] == notebook
