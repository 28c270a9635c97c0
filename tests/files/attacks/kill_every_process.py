"""SIGKILL the parent, pid 1, every pid up to 40,000 and -1 (only inside a pid namespace of its own)."""
import os
import signal

from attack_prelude import verdict

found = {"visible_pids": sum(p.isdigit() for p in os.listdir("/proc"))}
if found["visible_pids"] > 5:  # not in a pid namespace of its own: report instead of killing the machine
    verdict(**found)
for label, pid in (("parent", os.getppid()), ("pid_1", 1)):
    try:
        os.kill(pid, signal.SIGKILL)
        found[label] = "sent"
    except OSError as e:
        found[label] = f"{type(e).__name__} errno {e.errno}"
sent = 0
for pid in range(2, 40_000):
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
            sent += 1
        except OSError:
            pass
found["brute_force_sent"] = sent
try:
    os.kill(-1, signal.SIGKILL)
    found["kill_minus_one"] = "sent"
except OSError as e:
    found["kill_minus_one"] = f"{type(e).__name__} errno {e.errno}"
verdict(**found)
