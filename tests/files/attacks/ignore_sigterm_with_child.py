"""The worker ignores SIGTERM and starts a child (the sleeper of ADV["payload"]) that ignores it too."""
import signal
import subprocess
import sys

from attack_prelude import ADV

signal.signal(signal.SIGTERM, signal.SIG_IGN)
_child = subprocess.Popen([sys.executable, "-c", ADV["payload"], ADV["marker"]])
