"""Walk the whole visible file system for the course's files (configuration, calibration, notebooks, checks)."""
import os
import time

from attack_prelude import verdict

wanted = {"course_config.py", "calibration.json", "lab_rnn.ipynb", "test_myrnn.py", "nbgrader_export.py", "keeper.py",
          "pydoc_topics.txt"}
found, seen, t0 = [], 0, time.monotonic()
for root, dirs, files in os.walk("/"):
    if root == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    seen += len(files)
    found += [os.path.join(root, f) for f in files
              if (f in wanted or "lab_rnn" in root.split("/")) and not root.startswith("/grader")]
    if seen > 500_000 or time.monotonic() - t0 > 15:
        break
verdict(files_seen=seen, found=found[:20], seconds=round(time.monotonic() - t0, 1))
