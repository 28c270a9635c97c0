"""Look at every visible process's command line and environment, and at other workers' folders, for secrets."""
import glob
import os

from attack_prelude import ADV, verdict

found = {"pid": os.getpid(), "ppid": os.getppid()}
pids = [p for p in os.listdir("/proc") if p.isdigit()]
hits, cmds = [], []
for p in pids:
    for what in ("cmdline", "environ"):
        try:
            with open(f"/proc/{p}/{what}", "rb") as f:
                data = f.read()
        except OSError:
            continue
        if b"adv-secret" in data or b"COURSE_ADV_SECRET" in data:
            hits.append(f"{p}/{what}")
        if what == "cmdline":
            cmds.append(data.replace(b"\0", b" ").decode("utf-8", "replace")[:120])
found.update(visible_pids=len(pids), secret_hits=hits, cmdlines=cmds[:10])
try:
    with open(f"/proc/{os.getppid()}/environ", "rb") as f:
        found["parent_environ_bytes"] = len(f.read())
except OSError as e:
    found["parent_environ_bytes"] = type(e).__name__
found["fds"] = sorted(int(x) for x in os.listdir("/proc/self/fd"))
others = glob.glob("/tmp/course-worker-*") + glob.glob("/tmp/grade-*") + glob.glob(ADV["tmpdir"] + "/*")
found["other_worker_dirs"] = others[:5]
configs = []
for d in others:
    for cfg in glob.glob(d + "/run*/runtime/config.json"):
        try:
            with open(cfg) as f:
                configs.append(cfg + ": " + f.read(40))
        except OSError as e:
            configs.append(cfg + ": " + type(e).__name__)
found["other_configs"] = configs[:5]
verdict(**found)
