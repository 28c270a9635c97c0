"""nbgrader configuration: course_config.py's settings; nbgrader's course folder is the folder holding this file."""
# Copied into another course folder (a JupyterHub formgrader's), it still makes that folder the
# course root. Its settings come from $COURSE_CONFIG, else a course_config.py beside it, else
# the repository of the installed `course` package. `course export --course-dir C` writes a
# standalone nbgrader_config.py into C instead, for a Jupyter that cannot import `course`.
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))  # traitlets' loader sets __file__ to this file
if os.path.isdir(os.path.join(HERE, "course")):
    sys.path.insert(0, HERE)  # the repository itself: its own `course` package

from course.config import load_config  # noqa: E402  (after the path set-up above)

beside = os.path.join(HERE, "course_config.py")
c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)
load_config(os.environ.get("COURSE_CONFIG") or (beside if os.path.isfile(beside) else None)).apply_to_nbgrader(
    c, root=HERE)
