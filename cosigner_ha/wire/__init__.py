"""Node <-> SaaS messages, msgpack codec and framing. Imports nothing else of ours."""
