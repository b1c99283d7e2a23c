"""The custody SaaS simulator. Never imports `cosigner_ha.node`.

`Saas` is the entry point; see docs/saas.md for the API the cluster runner drives and the protocol
conventions nodes rely on.
"""

from cosigner_ha.policy.vocabulary import Role
from cosigner_ha.saas_sim.approvers import ApproverBehaviour, Verdict
from cosigner_ha.saas_sim.config import SaasConfig
from cosigner_ha.saas_sim.errors import SaasError
from cosigner_ha.saas_sim.saas import Saas
from cosigner_ha.saas_sim.transactions import Status, SubStatus, Transaction
from cosigner_ha.saas_sim.workspace import Network, Workspace

__all__ = [
    "ApproverBehaviour",
    "Network",
    "Role",
    "Saas",
    "SaasConfig",
    "SaasError",
    "Status",
    "SubStatus",
    "Transaction",
    "Verdict",
    "Workspace",
]
