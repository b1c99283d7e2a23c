"""The node's runtime commands (`cosigner-ha node ...`), reached by the CLI through the cluster layer.

DESIGN.md section 2 lets the CLI import only `cluster`, `policy` and `testing`; the cluster layer is where
the node and the SaaS are wired into programs, so the node's command table is exposed from here.
"""

from cosigner_ha.node.cli import register, run

__all__ = ["register", "run"]
