"""Transports with one interface: the simulated network and TCP/TLS. Imports only `wire`."""
