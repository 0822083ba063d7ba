"""driftscan: judges a live AWS account against the baseline in controls.md."""

__version__ = "0.1.0"
