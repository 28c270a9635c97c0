"""A double-fork setsid daemon and a start_new_session child, both the sleeper of ADV["payload"]."""
import os
import subprocess
import sys

from attack_prelude import ADV

_cmd = [sys.executable, "-c", ADV["payload"], ADV["marker"]]
subprocess.Popen(_cmd, start_new_session=True)
if os.fork() == 0:  # the classic daemon: fork, setsid, fork again, the middle one exits
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, _cmd)
    os._exit(0)
