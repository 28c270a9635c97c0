"""Tooling for the DLAI RNN lab: release, grade, calibrate, report."""

__version__ = "0.1.0"
