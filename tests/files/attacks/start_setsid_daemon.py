"""Double-fork a setsid daemon (ADV["payload"]) that ignores signals, and report that it is alive."""
import os
import sys

from attack_prelude import ADV, verdict

r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    os.setsid()
    if os.fork() == 0:
        os.set_inheritable(w, True)
        try:
            os.execv(sys.executable, [sys.executable, "-c", ADV["payload"], ADV["marker"], str(w),
                                      ADV["canary_dir"] + "/daemon"])
        finally:
            os._exit(0)
    os._exit(0)
os.close(w)
os.waitpid(pid, 0)
verdict(daemon=os.read(r, 100).decode())
