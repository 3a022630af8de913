"""Beam jobs that validate, prepare and score a fashion product catalog, and the pure logic they share."""
