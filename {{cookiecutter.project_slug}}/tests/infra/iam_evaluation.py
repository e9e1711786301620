"""IAM policy evaluation for the deploy tests: principalmapper's local simulation of a role.

`role_node` reads a role from IAM (moto here) as it is: its inline policies, its attached
managed policies and its permissions boundary. `allowed` asks principalmapper whether that
role may make one authorization request, `(action, resource ARN, request context)`, the way
AWS evaluates identity-based policies and a permissions boundary: an explicit Deny in either
wins, then both must allow. Resource-based policies, SCPs and session policies are not part
of these requests (the deploy role assumes no session policy and the stack sets none).

Known limits of principalmapper 1.1.5 (its `local_policy_simulation`) that matter here:
resource ARNs match case-insensitively (AWS: case-sensitive), and `StringNotLike` on a key
missing from the context does not match (AWS: it does). The policies under test use neither
`StringNotLike` nor names that differ only in case.
"""

from __future__ import annotations

import collections
import collections.abc
import json
import urllib.parse

# principalmapper 1.1.5 (its util/case_insensitive_dict.py) does
# `from collections import Mapping, MutableMapping`, names Python 3.10 removed from
# `collections` (they live in `collections.abc` since 3.3): put them back before the import.
for _name in ("Mapping", "MutableMapping"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

from principalmapper.common import Node, Policy  # noqa: E402
from principalmapper.querying.query_interface import local_check_authorization  # noqa: E402


def document(value) -> dict:
    """A policy document as IAM returns it: a dict, or URL-encoded JSON."""
    if isinstance(value, str):
        return json.loads(urllib.parse.unquote(value))
    return value


def managed_policy(iam, arn: str) -> Policy:
    """The default version of a managed policy (AWS-managed or the account's own)."""
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
    return Policy(arn, policy["PolicyName"], document(version["PolicyVersion"]["Document"]))


def role_node(iam, role_name: str) -> Node:
    """The role as IAM has it now, as a principalmapper Node."""
    role = iam.get_role(RoleName=role_name)["Role"]
    policies = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name):
        for name in page["PolicyNames"]:
            found = iam.get_role_policy(RoleName=role_name, PolicyName=name)
            policies.append(Policy(role["Arn"], name, document(found["PolicyDocument"])))
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
        for attached in page["AttachedPolicies"]:
            policies.append(managed_policy(iam, attached["PolicyArn"]))
    boundary_arn = role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
    return Node(
        arn=role["Arn"],
        id_value=role["RoleId"],
        attached_policies=policies,
        group_memberships=[],
        trust_policy=document(role["AssumeRolePolicyDocument"]),
        instance_profile=None,
        num_access_keys=0,
        active_password=False,
        is_admin=False,
        permissions_boundary=managed_policy(iam, boundary_arn) if boundary_arn else None,
        has_mfa=False,
        tags={tag["Key"]: tag["Value"] for tag in role.get("Tags", [])},
    )


def allowed(node: Node, action: str, resource_arn: str, context: dict) -> bool:
    """Whether the identity policies and the permissions boundary of `node` allow the request.

    `context` holds the request's condition keys: a string, or a list of strings for a
    multivalued key (`aws:TagKeys`); principalmapper adds the principal's own keys
    (`aws:PrincipalArn`, `aws:PrincipalTag/...`, `aws:SecureTransport`, ...).
    """
    plain = {
        key: list(value) if isinstance(value, tuple) else value for key, value in context.items()
    }
    return local_check_authorization(node, action, resource_arn, plain)
