"""setuid(0), new namespaces, mount, chroot, a cgroup escape, sudo and su; report the uid and capabilities."""
import ctypes
import os
import subprocess

from attack_prelude import verdict

libc = ctypes.CDLL(None, use_errno=True)
found = {}


def attempt(label, fn):
    try:
        rc = fn()
        found[label] = "ok" if rc in (0, None) else f"errno {ctypes.get_errno()}"
    except OSError as e:
        found[label] = f"{type(e).__name__} errno {e.errno}"


def join_root_cgroup():
    with open("/sys/fs/cgroup/cgroup.procs", "w") as f:
        f.write(str(os.getpid()))


attempt("setuid_0", lambda: os.setuid(0))
attempt("unshare_user_ns", lambda: libc.unshare(0x10000000))
attempt("unshare_net_ns", lambda: libc.unshare(0x40000000))
attempt("mount_tmpfs", lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
attempt("chroot", lambda: os.chroot("/tmp"))
attempt("cgroup_escape", join_root_cgroup)
for prog in (["sudo", "-n", "true"], ["su", "-c", "true"]):
    try:
        found[prog[0]] = f"exit {subprocess.run(prog, capture_output=True, timeout=5).returncode}"
    except (OSError, subprocess.SubprocessError) as e:
        found[prog[0]] = type(e).__name__
with open("/proc/self/status") as f:
    status = f.read()
found["uid"] = os.getuid()
found["CapEff"] = status.split("CapEff:")[1].split()[0]
verdict(**found)
