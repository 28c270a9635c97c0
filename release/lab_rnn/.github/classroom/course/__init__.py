"""The lab's visible-test runner for GitHub Classroom, copied from the course tooling."""
