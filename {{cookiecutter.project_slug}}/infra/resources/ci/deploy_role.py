"""The deploy role and its policy, and GitHub's OIDC provider it trusts."""

from __future__ import annotations

from infra import tags
from infra.aws import DeployError, is_not_found
from infra.engine import Change, Context, Resource
from infra.resources.ci.deploy_policy import (
    MANAGED_POLICIES_PER_ROLE,
    action_count,
    digest,
    split,
    stack_deploy_policy,
)
from infra.resources.ci.github import (
    AUDIENCE,
    GITHUB_ISSUER,
    GITHUB_THUMBPRINTS,
    provider_arn,
    trust_policy,
    trusted_subjects,
)
from infra.resources.shared.addresses import BOUNDARY, DEPLOY_POLICY, DEPLOY_ROLE, GITHUB_PROVIDER
from infra.resources.shared.boundary import boundary_arn, boundary_name, boundary_policy
from infra.resources.shared.iam import Role, canonical, delete_managed_policy, new_policy_version
from infra.resources.shared.names import deploy_role_name

# The extra tag that tells this role from the stack's own resources: destroy keeps it.
PURPOSE_TAG = {"Purpose": "github-actions-deploy"}


def role_tags(ctx: Context) -> dict:
    return {**tags.stack_tags(ctx.settings), **PURPOSE_TAG}


class GitHubProvider(Resource):
    """GitHub's OIDC identity provider: one per account, shared by every repository."""

    address = GITHUB_PROVIDER

    def read(self, ctx: Context) -> dict | None:
        iam, arn = ctx.aws.iam, provider_arn(ctx)
        listed = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
        if arn not in [provider["Arn"] for provider in listed]:
            return None
        found = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        return {
            "id": arn,
            "arn": arn,
            "url": GITHUB_ISSUER,
            # Someone else's provider keeps its other audiences; ours is added if missing.
            "accepts_audience": AUDIENCE in found.get("ClientIDList", []),
        }

    def desired(self, ctx: Context) -> dict | None:
        return {"url": GITHUB_ISSUER, "accepts_audience": True}

    def create(self, ctx: Context, desired: dict) -> None:
        ctx.aws.iam.create_open_id_connect_provider(
            Url=f"https://{GITHUB_ISSUER}",
            ClientIDList=[AUDIENCE],
            ThumbprintList=GITHUB_THUMBPRINTS,
            Tags=tags.as_list(tags.stack_tags(ctx.settings)),
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        ctx.aws.iam.add_client_id_to_open_id_connect_provider(
            OpenIDConnectProviderArn=actual["arn"], ClientID=AUDIENCE
        )

    def delete(self, ctx: Context, actual: dict) -> None:
        """Kept: other stacks and repositories of the account may trust it."""


def deploy_role(repository: str | None) -> Role:
    """Plans show whom the role trusts and a hash of its trust policy, not the whole JSON."""
    return Role(
        DEPLOY_ROLE,
        deploy_role_name,
        lambda ctx: trust_policy(ctx, repository),
        lambda ctx: (
            f"GitHub Actions deploys stack {ctx.settings.stack_name} of "
            f"{ctx.settings.project_slug} (python -m infra bootstrap-ci)"
        ),
        role_tags=role_tags,
        wanted=lambda _ctx: repository is not None,
        show=lambda document: {
            "trusted_subjects": trusted_subjects(document),
            "assume_role_policy_sha256": digest(document),
        },
        depends_on=(GITHUB_PROVIDER,),
    )


class DeployPolicies(Resource):
    """The deploy role's permissions as managed policies `<project>-<stack>-deploy-<n>`:
    one inline policy (10,240 characters) cannot hold them all. An inline policy left by
    an older bootstrap-ci is removed."""

    address = DEPLOY_POLICY
    depends_on = (DEPLOY_ROLE,)

    def __init__(self, repository: str | None):
        self.repository = repository

    @staticmethod
    def _name(ctx: Context, number: int) -> str:
        return ctx.settings.name(f"deploy-{number}")

    @staticmethod
    def _arn(ctx: Context, name: str) -> str:
        return ctx.aws.arn("iam", f"policy/{name}", region=False)

    def read(self, ctx: Context) -> dict | None:
        if ctx.actual(DEPLOY_ROLE) is None:
            return None
        iam, role = ctx.aws.iam, deploy_role_name(ctx)
        attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        names = {item["PolicyName"] for item in attached}
        documents = []
        number = 1
        while self._name(ctx, number) in names:
            arn = self._arn(ctx, self._name(ctx, number))
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            found = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
            documents.append(canonical(found["Document"]))
            number += 1
        legacy = role in iam.list_role_policies(RoleName=role)["PolicyNames"]
        if not documents and not legacy:
            return None
        return {
            "id": role,
            **self._shown(documents),
            "legacy_inline_policy": legacy,
            "_documents": documents,
        }

    def desired(self, ctx: Context) -> dict | None:
        if self.repository is None:
            return None
        documents = split(stack_deploy_policy(ctx))
        if len(documents) > MANAGED_POLICIES_PER_ROLE:
            raise DeployError(
                f"The deploy policy needs {len(documents)} managed policies; a role takes "
                f"{MANAGED_POLICIES_PER_ROLE}: shorten project_slug or stack_name."
            )
        return {**self._shown(documents), "_documents": documents, "legacy_inline_policy": False}

    @staticmethod
    def _shown(documents: list[str]) -> dict:
        """Plans show how many policies and actions, and a hash: the JSON would fill the screen."""
        return {
            "policies": len(documents),
            "actions": sum(action_count(document) for document in documents),
            "policy_sha256": digest("".join(documents)),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        self.update(ctx, {"_documents": [], "legacy_inline_policy": False}, desired, [])

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        iam, role = ctx.aws.iam, deploy_role_name(ctx)
        have, want = actual["_documents"], desired["_documents"]
        for index, document in enumerate(want):
            name = self._name(ctx, index + 1)
            if index >= len(have):
                iam.create_policy(
                    PolicyName=name,
                    PolicyDocument=document,
                    Description=f"Deploys stack {ctx.settings.stack_name} (bootstrap-ci)",
                    Tags=tags.as_list(tags.stack_tags(ctx.settings)),
                )
                iam.attach_role_policy(RoleName=role, PolicyArn=self._arn(ctx, name))
            elif have[index] != document:
                new_policy_version(iam, self._arn(ctx, name), document)
        for index in range(len(want), len(have)):
            self._remove(ctx, self._name(ctx, index + 1))
        if actual["legacy_inline_policy"]:
            iam.delete_role_policy(RoleName=role, PolicyName=role)

    def _remove(self, ctx: Context, name: str) -> None:
        iam, arn = ctx.aws.iam, self._arn(ctx, name)
        try:
            iam.detach_role_policy(RoleName=deploy_role_name(ctx), PolicyArn=arn)
            delete_managed_policy(iam, arn)
        except Exception as error:  # noqa: BLE001 - only a missing policy is fine here
            if not is_not_found(error):
                raise

    def delete(self, ctx: Context, actual: dict) -> None:
        for index in range(len(actual["_documents"])):
            self._remove(ctx, self._name(ctx, index + 1))
        if actual["legacy_inline_policy"]:
            ctx.aws.iam.delete_role_policy(
                RoleName=deploy_role_name(ctx), PolicyName=deploy_role_name(ctx)
            )


class Boundary(Resource):
    """The permissions boundary of the stack's roles (shared/boundary.py), also put on those
    of its roles that exist already, made by an administrator's apply before bootstrap-ci."""

    address = BOUNDARY

    def __init__(self, wanted: bool):
        self.wanted = wanted

    def read(self, ctx: Context) -> dict | None:
        iam, arn = ctx.aws.iam, boundary_arn(ctx)
        try:
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        except iam.exceptions.NoSuchEntityException:
            return None
        found = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
        document = canonical(found["Document"])
        carried = self._stack_roles(ctx)
        return {
            "id": arn,
            "name": boundary_name(ctx),
            "policy_sha256": digest(document),
            "roles_without_it": tuple(name for name, has in carried.items() if not has),
            "_roles_with_it": tuple(name for name, has in carried.items() if has),
            "_document": document,
        }

    def desired(self, ctx: Context) -> dict | None:
        if not self.wanted:
            in_use = (ctx.actual(self.address) or {}).get("_roles_with_it")
            if in_use:
                raise DeployError(
                    f"The stack's roles ({', '.join(in_use)}) still carry the boundary "
                    f"{boundary_name(ctx)}: run `python -m infra destroy` first, then "
                    "bootstrap-ci --remove."
                )
            return None
        document = canonical(boundary_policy(ctx))
        return {
            "name": boundary_name(ctx),
            "policy_sha256": digest(document),
            "roles_without_it": (),
            "_document": document,
        }

    @staticmethod
    def _stack_roles(ctx: Context) -> dict[str, bool]:
        """The stack's roles that exist, and whether each carries this boundary."""
        iam, found = ctx.aws.iam, {}
        for name in STACK_ROLES:
            try:
                role = iam.get_role(RoleName=ctx.settings.name(name))["Role"]
            except iam.exceptions.NoSuchEntityException:
                continue
            boundary = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
            found[role["RoleName"]] = boundary == boundary_arn(ctx)
        return found

    def create(self, ctx: Context, desired: dict) -> None:
        ctx.aws.iam.create_policy(
            PolicyName=desired["name"],
            PolicyDocument=desired["_document"],
            Description=f"The most any role of stack {ctx.settings.stack_name} may do",
            Tags=tags.as_list(tags.stack_tags(ctx.settings)),
        )
        roles = self._stack_roles(ctx)
        self._put_on_roles(ctx, tuple(name for name, has in roles.items() if not has))

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        if actual["_document"] != desired["_document"]:
            new_policy_version(ctx.aws.iam, actual["id"], desired["_document"])
        self._put_on_roles(ctx, actual["roles_without_it"])

    @staticmethod
    def _put_on_roles(ctx: Context, names: tuple[str, ...]) -> None:
        for name in names:
            ctx.aws.iam.put_role_permissions_boundary(
                RoleName=name, PermissionsBoundary=boundary_arn(ctx)
            )

    def delete(self, ctx: Context, actual: dict) -> None:
        delete_managed_policy(ctx.aws.iam, actual["id"])


# The roles of the stack the boundary caps (the deploy role is bootstrap-ci's, not capped).
STACK_ROLES = ("app-role", "flow-logs-role")


def resources(repository: str | None) -> list[Resource]:
    """`repository` None: the role should not exist (`--remove`); the provider is kept."""
    if repository is None:
        return [deploy_role(None), DeployPolicies(None), Boundary(False)]
    return [GitHubProvider(), Boundary(True), deploy_role(repository), DeployPolicies(repository)]
