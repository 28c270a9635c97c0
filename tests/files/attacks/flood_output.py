"""Print a gigabyte, then write another straight to the standard output's file descriptor."""
import os

from attack_prelude import verdict

for _ in range(1000):
    print("y" * 1_000_000)
written, stopped = 0, None
chunk = b"z" * (1 << 20)
try:
    while written < (1 << 30):
        written += os.write(1, chunk)
except OSError as e:
    stopped = f"{type(e).__name__} errno {e.errno}"
verdict(raw_bytes=written, stopped_by=stopped)
