"""driftscan's own controls, one module per service.

Each module is an entry point of the ``driftscan.checks`` group (pyproject.toml), which is
how ``scanner.engine.registry`` finds and imports it, the same way as a plugin's: this package
imports nothing itself.
"""
