"""The customer's side of the callback protocol: a reference callback handler, apart from the node.

A callback handler is a server the customer runs, not part of the co-signer: the node only calls it. This
package holds the reference one (Starlette, with configurable rules and injectable faults) that scenarios,
tests and `cosigner-ha callback serve` use; users can start from it.
"""

from cosigner_ha.handler.reference import HandlerRules, ReferenceHandler, amount_usd, serve

__all__ = ["HandlerRules", "ReferenceHandler", "amount_usd", "serve"]
