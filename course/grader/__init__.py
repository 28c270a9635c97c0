"""The grader: sandboxed workers, probes, the trusted run of the checks, results."""
