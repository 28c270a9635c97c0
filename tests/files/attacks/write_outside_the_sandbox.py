"""Write forged results and files into the suite's folders, the repository, /tmp, /etc, the venv and the runtime."""
import os
import sys

from attack_prelude import ADV, verdict

targets = {
    "canary": ADV["canary_dir"] + "/written-by-worker",
    "repo": ADV["repo"] + "/adv-" + ADV["marker"] + ".txt",
    "host_tmp": "/tmp/adv-" + ADV["marker"],
    "forged_result": ADV["out_dir"] + "/forged-" + ADV["marker"] + "/results.json",
    "control_result": ADV["out_dir"] + "/" + ADV["control_id"] + "/results.json",
    "etc": "/etc/adv-" + ADV["marker"],
    "venv": sys.prefix + "/adv-" + ADV["marker"],
    "worker_runtime": sys.modules["course.worker.wire"].__file__,
    "worker_ops": sys.modules["ops"].__file__,
}
found = {}
for key, path in targets.items():
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError:
        pass
    try:
        with open(path, "a") as f:
            f.write('{"score": 100, "tests": []}')
        found[key] = "written"
    except OSError as e:
        found[key] = f"{type(e).__name__} errno {e.errno}"
verdict(**found)
