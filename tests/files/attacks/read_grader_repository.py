"""Read the grader's repository (configuration, references, solutions) and import its modules."""
import os

from attack_prelude import ADV, verdict

found = {}
for rel in ("course_config.py", "autograder/lab_rnn/reference.py", "autograder/lab_rnn/calibration.json",
            "source/lab_rnn/lab_rnn.ipynb", "course/grade.py", ".git/config", "corpus/pydoc_topics.txt"):
    try:
        with open(os.path.join(ADV["repo"], rel), "rb") as f:
            found[rel] = "read: " + f.read(80).decode("utf-8", "replace")
    except OSError as e:
        found[rel] = f"{type(e).__name__} errno {e.errno}"
try:
    found["listdir"] = sorted(os.listdir(ADV["repo"]))[:20]
except OSError as e:
    found["listdir"] = f"{type(e).__name__} errno {e.errno}"
for mod in ("autograder.lab_rnn.reference", "course.grader.grade", "course_config", "pydoc_data.topics"):
    try:
        m = __import__(mod, fromlist=["_"])
        found[mod] = "imported " + str(getattr(m, "__file__", ""))
    except Exception as e:
        found[mod] = type(e).__name__
verdict(**found)
