"""json.dumps of a list nested 100,000 deep: a RecursionError."""
import json

nested = []
for _ in range(100_000):
    nested = [nested]
json.dumps(nested)
