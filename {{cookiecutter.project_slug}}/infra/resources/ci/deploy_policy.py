"""The deploy role's permissions: what plan, apply, destroy and outputs of this stack call.

Each tier declares the statements its own calls need, next to them (`deploy_permissions`
at the end of each module), and stack.py lists them as it lists the resources; this adds
the tool's own (the checks, the stack's lock, the prices plan reads, reading the deploy
role itself).
"""

from __future__ import annotations

import hashlib
import json

from infra import checks, lock, price_list, stack
from infra.engine import Context
from infra.resources.shared.names import deploy_role_name
from infra.resources.shared.permissions import allow

# A managed policy holds 6,144 characters (whitespace not counted); a role takes 10 of them
# unless the account's quota was raised (IAM User Guide, "IAM and AWS STS quotas").
MANAGED_POLICY_LIMIT = 6144
MANAGED_POLICIES_PER_ROLE = 10


def stack_deploy_policy(ctx: Context) -> dict:
    """What plan, apply, destroy and outputs of this stack call, and an image push."""
    statements = [
        *checks.deploy_permissions(ctx),
        *lock.deploy_permissions(ctx),
        *price_list.deploy_permissions(ctx),
        # destroy says whether this role is kept; it reads nothing else of its own.
        allow(["iam:GetRole"], ctx.aws.arn("iam", f"role/{deploy_role_name(ctx)}", region=False)),
        *stack.deploy_permissions(ctx),
    ]
    unique = {json.dumps(statement, sort_keys=True): statement for statement in statements}
    return {"Version": "2012-10-17", "Statement": list(unique.values())}


def split(policy: dict) -> list[str]:
    """The policy as canonical documents of at most MANAGED_POLICY_LIMIT characters each,
    its statements in order."""
    documents: list[list[dict]] = [[]]
    for statement in policy["Statement"]:
        candidate = [*documents[-1], statement]
        if documents[-1] and len(_document(candidate)) > MANAGED_POLICY_LIMIT:
            documents.append([statement])
        else:
            documents[-1] = candidate
    return [_document(statements) for statements in documents]


def _document(statements: list[dict]) -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": statements}, sort_keys=True, separators=(",", ":")
    )


def digest(document: str) -> str:
    """Plans show a policy by its hash: the whole JSON would fill the screen."""
    return hashlib.sha256(document.encode()).hexdigest()[:12]


def action_count(document: str) -> int:
    statements = json.loads(document)["Statement"]
    return sum(len(s["Action"]) if isinstance(s["Action"], list) else 1 for s in statements)
