"""Where courses run: Gradescope, GitHub Classroom, nbgrader, LMS downloads, and the cohort report."""
