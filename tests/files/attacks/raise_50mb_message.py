"""Raise an exception with a 50 MB message."""
raise RuntimeError("A" * 50_000_000)
