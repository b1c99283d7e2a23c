"""The runtime: the same SaaS and node code as separate OS processes over TCP with TLS (issue 12).

`saas_serve` is the SaaS as a process (`cosigner-ha saas serve`): the node gateway over TLS and an HTTP
control API (`control_api`) through which a launcher or a person sets up and drives the workspace.
"""
