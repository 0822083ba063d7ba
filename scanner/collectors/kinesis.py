"""Collectors for kinesis."""
