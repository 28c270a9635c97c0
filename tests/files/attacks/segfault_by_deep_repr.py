"""Crash the interpreter: repr of a list nested two million deep, with the recursion limit lifted."""
import sys

sys.setrecursionlimit(10**8)
nested = []
for _ in range(2_000_000):
    nested = [nested]
repr(nested)
