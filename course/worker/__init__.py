"""The sandboxed worker: runtime (cells, ops, protocol) and the keeper of the weaker isolation levels."""
