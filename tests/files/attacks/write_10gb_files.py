"""Write a sparse and a dense 10 GB file in the working folder."""
import os

from attack_prelude import verdict

found = {}
try:
    with open("sparse.bin", "wb") as f:
        f.seek(10 << 30)
        f.write(b"x")
    found["sparse_10gb"] = "written"
except OSError as e:
    found["sparse_10gb"] = f"{type(e).__name__} errno {e.errno}"
chunk = b"\0" * (1 << 20)
try:
    with open("dense.bin", "wb") as f:
        for _ in range(10 << 10):
            f.write(chunk)
    found["dense_10gb"] = "written"
except OSError as e:
    found["dense_10gb"] = f"{type(e).__name__} errno {e.errno}"
found["dense_bytes"] = os.path.getsize("dense.bin")
for name in ("sparse.bin", "dense.bin"):
    if os.path.exists(name):
        os.remove(name)
verdict(**found)
