"""Collectors: one module per AWS service, each a set of ``@collector`` fetch functions."""
