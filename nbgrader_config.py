"""nbgrader configuration: loads course_config.py so settings live in one place."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from course.config import load_config

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)
load_config().apply_to_nbgrader(c)
