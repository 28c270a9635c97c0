"""What runs on a student's machine or in the student repository: standard library only, relative imports."""
