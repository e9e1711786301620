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
from infra.resources.shared.addresses import DEPLOY_POLICY, DEPLOY_ROLE, GITHUB_PROVIDER
from infra.resources.shared.iam import Role, canonical
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
                self._new_version(ctx, self._arn(ctx, name), document)
        for index in range(len(want), len(have)):
            self._remove(ctx, self._name(ctx, index + 1))
        if actual["legacy_inline_policy"]:
            iam.delete_role_policy(RoleName=role, PolicyName=role)

    @staticmethod
    def _new_version(ctx: Context, arn: str, document: str) -> None:
        """IAM keeps five versions of a managed policy: the oldest spare one goes first."""
        iam = ctx.aws.iam
        versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
        spare = sorted((v for v in versions if not v["IsDefaultVersion"]), key=_created)
        if len(versions) >= 5:
            iam.delete_policy_version(PolicyArn=arn, VersionId=spare[0]["VersionId"])
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=document, SetAsDefault=True)

    def _remove(self, ctx: Context, name: str) -> None:
        iam, arn = ctx.aws.iam, self._arn(ctx, name)
        try:
            iam.detach_role_policy(RoleName=deploy_role_name(ctx), PolicyArn=arn)
            for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
                if not version["IsDefaultVersion"]:
                    iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
            iam.delete_policy(PolicyArn=arn)
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


def _created(version: dict):
    return version["CreateDate"]


def resources(repository: str | None) -> list[Resource]:
    """`repository` None: the role should not exist (`--remove`); the provider is kept."""
    if repository is None:
        return [deploy_role(None), DeployPolicies(None)]
    return [GitHubProvider(), deploy_role(repository), DeployPolicies(repository)]
