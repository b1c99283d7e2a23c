"""The environment a component runs in: clock, randomness, ids, trace. Imports nothing else of ours."""
