"""Hidden side of the RNN lab: probe plan, worker ops, trusted checks and threshold driver."""
