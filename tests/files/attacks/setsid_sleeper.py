"""Fork a setsid child that becomes a ten-minute sleep carrying the marker: a process that would outlive a worker."""
import os

from attack_prelude import ADV

if os.fork() == 0:
    os.setsid()
    os.execv("/bin/sleep", [ADV["marker"], "600"])
