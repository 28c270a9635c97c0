"""Fill the working folder, /tmp and /dev/shm with 32 MB files, up to 2 GB each."""
import os

from attack_prelude import verdict

chunk = b"\0" * (1 << 20)
found = {}
for d in (os.getcwd(), "/tmp", "/dev/shm"):
    total, names = 0, []
    try:
        while total < (2 << 30):
            name = os.path.join(d, f"fill{len(names)}.bin")
            names.append(name)
            with open(name, "wb") as f:
                for _ in range(32):
                    f.write(chunk)
                    total += len(chunk)
    except OSError as e:
        found[d + "_stopped_by"] = f"{type(e).__name__} errno {e.errno}"
    found[d] = sum(os.path.getsize(n) for n in names if os.path.exists(n))
    for n in names:
        if os.path.exists(n):
            os.remove(n)
verdict(**found)
