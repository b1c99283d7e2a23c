"""The API co-signer node. Never imports `cosigner_ha.saas_sim`: the two meet only through `wire` over `net`.

See docs/node.md. The node sees its machine and cloud only through the protocols of `platform`; the
simulated world (`cosigner_ha.cluster.infra`) and the runtime implement them.
"""

from cosigner_ha.node.callback import (
    CallbackClient,
    CallbackDecision,
    CallbackFailure,
    CallbackPolicy,
    HandlerDirectory,
    InProcessHandler,
    check_settings,
)
from cosigner_ha.node.database import Database, Layout
from cosigner_ha.node.enclave import CommunalEnclave, EnclaveBackend, GcpEnclave, NitroEnclave, SgxEnclave
from cosigner_ha.node.errors import (
    AccessDenied,
    AdminError,
    AttestationError,
    BucketFault,
    DatabaseCorrupt,
    DatabaseMissing,
    DatabaseTampered,
    DiskFault,
    ImageRejected,
    InfraError,
    NodeError,
    NonceError,
    PairingError,
    SaasError,
    SaasUnreachable,
    StoreError,
    WrongHost,
)
from cosigner_ha.node.logs import NodeLog
from cosigner_ha.node.node import Node, NodeConfig, UserInfo
from cosigner_ha.node.platform import Disk, EnclaveKind, Host, Image, Kms, ObjectStore
from cosigner_ha.node.records import CallbackSettings
from cosigner_ha.node.rsa_keys import generate_rsa_key, public_key_pem

__all__ = [
    "AccessDenied",
    "AdminError",
    "AttestationError",
    "BucketFault",
    "CallbackClient",
    "CallbackDecision",
    "CallbackFailure",
    "CallbackPolicy",
    "CallbackSettings",
    "CommunalEnclave",
    "Database",
    "DatabaseCorrupt",
    "DatabaseMissing",
    "DatabaseTampered",
    "Disk",
    "DiskFault",
    "EnclaveBackend",
    "EnclaveKind",
    "GcpEnclave",
    "HandlerDirectory",
    "Host",
    "Image",
    "ImageRejected",
    "InProcessHandler",
    "InfraError",
    "Kms",
    "Layout",
    "NitroEnclave",
    "Node",
    "NodeConfig",
    "NodeError",
    "NodeLog",
    "NonceError",
    "ObjectStore",
    "PairingError",
    "SaasError",
    "SaasUnreachable",
    "SgxEnclave",
    "StoreError",
    "UserInfo",
    "WrongHost",
    "check_settings",
    "generate_rsa_key",
    "public_key_pem",
]
