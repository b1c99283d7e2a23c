"""The reference callback handler's runtime command (`cosigner-ha callback serve`), reached by the CLI
through the cluster layer (DESIGN.md section 2 lets the CLI import only `cluster`, `policy` and `testing`)."""

from cosigner_ha.callback_handler.cli import register, run

__all__ = ["register", "run"]
