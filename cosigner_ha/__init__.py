"""Simulator and runtime for high-availability clusters of MPC API co-signers."""
