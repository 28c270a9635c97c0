"""sys.exit at the top level of a cell, before its answer is defined."""
import sys

sys.exit(0)
