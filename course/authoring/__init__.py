"""The instructor's pipeline: release the notebook, run notebooks, derive the contract, read the solution, calibrate."""
