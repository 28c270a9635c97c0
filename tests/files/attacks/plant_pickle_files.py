"""Plant pickles (that would create a canary when loaded) under every name the grader reads, and an object .npy."""
import os

import numpy as np
from attack_prelude import ADV, verdict

payload = b"c__builtin__\nopen\n(V" + ADV["canary_dir"].encode() + b"/unpickled\nVw\ntR."
names = ["results.json", "responses.json", "response_arrays.npz", "plan.json", "plan_arrays.npz", "threshold.json",
         "checks.json", "sources.json", "context.json", "calibration.json", "responses.pkl", "data.pkl"]
planted = 0
for d in {os.getcwd(), os.environ["TMPDIR"], os.path.expanduser("~")}:  # the worker's own folders at every level
    for n in names:
        try:
            with open(os.path.join(d, n), "wb") as f:
                f.write(payload)
            planted += 1
        except OSError:
            pass
np.save("objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
verdict(planted=planted)
