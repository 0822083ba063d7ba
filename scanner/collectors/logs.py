"""Collectors for logs."""
