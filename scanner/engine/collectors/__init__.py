"""Fetch functions, one module per AWS service: the I/O behind the collectors that
``scanner/engine/records/<service>.py`` declares. Checks never import these modules."""
