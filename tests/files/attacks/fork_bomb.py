"""Fork until refused; every child forks twice more and becomes a long sleep carrying the marker."""
import os

from attack_prelude import ADV, verdict

forks, stopped = 0, None
try:
    while forks < 5000:
        if os.fork() == 0:
            try:
                os.fork()
                os.fork()
            except OSError:
                pass
            try:
                os.execv("/bin/sleep", [ADV["marker"], "600"])
            finally:
                os._exit(0)
        forks += 1
except OSError as e:
    stopped = f"{type(e).__name__} errno {e.errno}"
verdict(forks=forks, stopped_by=stopped)
