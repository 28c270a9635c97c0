"""The grader: sandboxed workers, probes, the trusted checks run, results (nothing here runs student code in-process)."""
