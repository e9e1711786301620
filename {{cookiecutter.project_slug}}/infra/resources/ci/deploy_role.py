"""The deploy role and its policy, and GitHub's OIDC provider it trusts."""

from __future__ import annotations

from infra import tags
from infra.aws import DeployError, is_not_found
from infra.engine import Change, Context, Resource
from infra.resources.ci.deploy_policy import (
    INLINE_POLICY_LIMIT,
    action_count,
    digest,
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


class DeployPolicy(Resource):
    address = DEPLOY_POLICY
    depends_on = (DEPLOY_ROLE,)

    def __init__(self, repository: str | None):
        self.repository = repository

    def read(self, ctx: Context) -> dict | None:
        if ctx.actual(DEPLOY_ROLE) is None:
            return None
        try:
            document = ctx.aws.iam.get_role_policy(
                RoleName=deploy_role_name(ctx), PolicyName=deploy_role_name(ctx)
            )["PolicyDocument"]
        except ctx.aws.iam.exceptions.NoSuchEntityException:
            return None
        document = canonical(document)
        return {
            "id": f"{deploy_role_name(ctx)}:{deploy_role_name(ctx)}",
            "actions": action_count(document),
            "policy_sha256": digest(document),
            "_policy": document,
        }

    def desired(self, ctx: Context) -> dict | None:
        if self.repository is None:
            return None
        document = canonical(stack_deploy_policy(ctx))
        if len(document) > INLINE_POLICY_LIMIT:
            raise DeployError(
                f"The deploy policy has {len(document)} characters; IAM allows "
                f"{INLINE_POLICY_LIMIT} inline: shorten project_slug or stack_name."
            )
        return {
            "actions": action_count(document),
            "policy_sha256": digest(document),
            "_policy": document,
        }

    def create(self, ctx: Context, desired: dict) -> None:
        ctx.aws.iam.put_role_policy(
            RoleName=deploy_role_name(ctx),
            PolicyName=deploy_role_name(ctx),
            PolicyDocument=desired["_policy"],
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        self.create(ctx, desired)

    def delete(self, ctx: Context, actual: dict) -> None:
        try:
            ctx.aws.iam.delete_role_policy(
                RoleName=deploy_role_name(ctx), PolicyName=deploy_role_name(ctx)
            )
        except Exception as error:  # noqa: BLE001 - only a missing policy is fine here
            if not is_not_found(error):
                raise


def resources(repository: str | None) -> list[Resource]:
    """`repository` None: the role should not exist (`--remove`); the provider is kept."""
    if repository is None:
        return [deploy_role(None), DeployPolicy(None)]
    return [GitHubProvider(), deploy_role(repository), DeployPolicy(repository)]
