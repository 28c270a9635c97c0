"""Connect to the suite's loopback TCP port and abstract unix socket, and list the network interfaces."""
import socket

from attack_prelude import ADV, verdict

found = {}
try:
    s = socket.create_connection(("127.0.0.1", ADV["tcp_port"]), timeout=2)
    s.sendall(ADV["marker"].encode())
    found["tcp"] = "connected"
except OSError as e:
    found["tcp"] = f"{type(e).__name__} errno {e.errno}"
try:
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    u.settimeout(2)
    u.connect("\0" + ADV["abstract"])
    u.sendall(ADV["marker"].encode())
    found["abstract_unix"] = "connected"
except OSError as e:
    found["abstract_unix"] = f"{type(e).__name__} errno {e.errno}"
found["interfaces"] = [name for _, name in socket.if_nameindex()]
verdict(**found)
