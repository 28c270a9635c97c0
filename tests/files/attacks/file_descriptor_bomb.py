"""Open file descriptors until refused."""
import os

from attack_prelude import verdict

fds, stopped = [], None
try:
    while len(fds) < 100_000:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError as e:
    stopped = f"{type(e).__name__} errno {e.errno}"
count = len(fds)
for fd in fds:
    os.close(fd)
verdict(fds=count, stopped_by=stopped)
