"""Collectors for elasticache."""
