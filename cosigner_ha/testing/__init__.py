"""Hypothesis strategies, pytest plugin and explorer."""
