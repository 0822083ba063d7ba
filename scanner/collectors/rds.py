"""Collectors for rds."""
