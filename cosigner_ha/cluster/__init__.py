"""Scenarios, topology, faults, invariants, runners and reports."""
