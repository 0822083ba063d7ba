"""Collectors for iam."""
