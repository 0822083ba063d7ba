"""Collectors for ecs."""
