"""Raise an exception whose message holds a lone surrogate (not writable as UTF-8)."""
raise RuntimeError("a lone surrogate " + chr(0xD800) + " in the message")
