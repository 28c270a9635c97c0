"""What enters the sandbox, staged whole: the worker runtime, the wire codec and the op helpers."""
