"""The instructor's pipeline: release the notebook, run notebooks, derive the contract, calibrate the threshold."""
