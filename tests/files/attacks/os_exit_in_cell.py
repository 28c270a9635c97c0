"""os._exit at the top level of a cell, after its answer is defined: the worker process ends at once."""
import os

os._exit(0)
