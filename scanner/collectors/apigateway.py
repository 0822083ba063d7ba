"""Collectors for apigateway."""
