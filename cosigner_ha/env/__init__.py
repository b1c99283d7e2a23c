"""The environment a component runs in: clock, seeded randomness, crypto randomness, ids, trace.

Imports nothing else of ours.
"""

from cosigner_ha.env.clock import SIMULATION_EPOCH, Clock
from cosigner_ha.env.environment import Environment, Mode
from cosigner_ha.env.ids import IdFactory
from cosigner_ha.env.randomness import CryptoRandom, OsCrypto, RandomStreams, SeededDrbg
from cosigner_ha.env.simulate import deterministic_scheduling, run_simulated, simulate
from cosigner_ha.env.trace import Event, Trace, TraceError, canonical

__all__ = [
    "SIMULATION_EPOCH",
    "Clock",
    "CryptoRandom",
    "Environment",
    "Event",
    "IdFactory",
    "Mode",
    "OsCrypto",
    "RandomStreams",
    "SeededDrbg",
    "Trace",
    "TraceError",
    "canonical",
    "deterministic_scheduling",
    "run_simulated",
    "simulate",
]
