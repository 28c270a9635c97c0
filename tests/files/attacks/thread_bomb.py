"""Start threads that never end until refused."""
import threading

from attack_prelude import verdict

never = threading.Event()
threads, stopped = 0, None
try:
    while threads < 5000:
        threading.Thread(target=never.wait, daemon=True).start()
        threads += 1
except RuntimeError as e:
    stopped = str(e)
verdict(threads=threads, stopped_by=stopped)
