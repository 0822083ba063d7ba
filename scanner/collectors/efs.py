"""Collectors for efs."""
