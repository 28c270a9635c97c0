"""A child that ignores SIGTERM, says it is alive and sleeps; argv[1] is the marker (run with ``python -c``)."""
import signal
import sys
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
print(sys.argv[1], "alive", flush=True)
time.sleep(3600)
