"""Collectors for cloudformation."""
