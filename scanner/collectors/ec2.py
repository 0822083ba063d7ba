"""Collectors for ec2."""
