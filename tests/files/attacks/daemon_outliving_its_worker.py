"""The daemon start_setsid_daemon.py starts: ignores signals, says it is alive, then writes a canary for ever.

A program of its own (run with ``python -c``): argv is the marker, a pipe's write end and the canary path.
"""
import os
import signal
import sys
import time

for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGUSR1, signal.SIGPIPE):
    signal.signal(s, signal.SIG_IGN)
w = int(sys.argv[2])
os.write(w, f"alive {os.getpid()}".encode())
os.close(w)
while True:
    try:
        with open(sys.argv[3], "w") as f:
            f.write("the daemon outlived its worker")
    except OSError:
        pass
    time.sleep(0.2)
