"""Collectors for secretsmanager."""
