"""An endless loop at the top level of a cell, SIGTERM ignored."""
import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)
while True:
    pass
