"""Transaction Authorization Policy: model, loaders, evaluators, ledger, validation and lint.

Imports nothing else of cosigner_ha. The SaaS simulator builds a `Directory`, loads the policy with
`load_policy`, and asks a `PolicyEngine` for a `Decision` per transaction.
"""

from .approvals import ApprovalTracker
from .decision import ApprovalGroup, ApprovalSpec, Decision
from .directory import Directory, User
from .engine import PolicyEngine
from .errors import PolicyError, PriceError
from .ledger import CountedHistory
from .lint import Finding, lint
from .loading import load_policy, load_policy_file, policy_rules
from .model import Policy, Rule
from .reference import ReferenceEngine
from .transaction import Transaction
from .validation import ValidationResult, validate

__all__ = [
    "ApprovalGroup",
    "ApprovalSpec",
    "ApprovalTracker",
    "CountedHistory",
    "Decision",
    "Directory",
    "Finding",
    "Policy",
    "PolicyEngine",
    "PolicyError",
    "PriceError",
    "ReferenceEngine",
    "Rule",
    "Transaction",
    "User",
    "ValidationResult",
    "lint",
    "load_policy",
    "load_policy_file",
    "policy_rules",
    "validate",
]
