"""The container registry: one ECR repository per stack, scanned on push."""

from __future__ import annotations

from infra import tags
from infra.engine import Change, Context, Resource
from infra.resources.shared.addresses import REPOSITORY
from infra.resources.shared.permissions import allow, arn, reads


class Repository(Resource):
    address = REPOSITORY
    immutable = ("encryption_type",)
    replace_blocked = (
        "The repository's images would be lost: change it back in stack.toml, or "
        "run `python -m infra destroy` and then apply."
    )

    def read(self, ctx: Context) -> dict | None:
        ecr, name = ctx.aws.client("ecr"), ctx.settings.name("app")
        try:
            repository = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        except ecr.exceptions.RepositoryNotFoundException:
            return None
        listed = ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]
        return {
            "id": name,
            "name": name,
            "arn": repository["repositoryArn"],
            "uri": repository["repositoryUri"],
            "scan_on_push": repository["imageScanningConfiguration"]["scanOnPush"],
            "image_tag_mutability": repository["imageTagMutability"],
            "encryption_type": repository.get("encryptionConfiguration", {}).get(
                "encryptionType", "AES256"
            ),
            "tags": tags.ours(tags.from_list(listed), tags.stack_tags(ctx.settings)),
        }

    def desired(self, ctx: Context) -> dict | None:
        # Tags stay mutable so `latest` can be pushed again; deploys pin a tag anyway.
        return {
            "name": ctx.settings.name("app"),
            "scan_on_push": True,
            "image_tag_mutability": "MUTABLE",
            "encryption_type": "AES256",
            "tags": tags.stack_tags(ctx.settings),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        ctx.aws.client("ecr").create_repository(
            repositoryName=desired["name"],
            imageTagMutability=desired["image_tag_mutability"],
            imageScanningConfiguration={"scanOnPush": desired["scan_on_push"]},
            encryptionConfiguration={"encryptionType": desired["encryption_type"]},
            tags=tags.as_list(desired["tags"]),
        )

    def update(self, ctx: Context, actual: dict, desired: dict, changes: list[Change]) -> None:
        ecr, name = ctx.aws.client("ecr"), actual["name"]
        if actual["scan_on_push"] != desired["scan_on_push"]:
            ecr.put_image_scanning_configuration(
                repositoryName=name,
                imageScanningConfiguration={"scanOnPush": desired["scan_on_push"]},
            )
        if actual["image_tag_mutability"] != desired["image_tag_mutability"]:
            ecr.put_image_tag_mutability(
                repositoryName=name, imageTagMutability=desired["image_tag_mutability"]
            )
        if actual["tags"] != desired["tags"]:
            ecr.tag_resource(resourceArn=actual["arn"], tags=tags.as_list(desired["tags"]))

    def delete(self, ctx: Context, actual: dict) -> None:
        # force: destroy removes the images too, so nothing of the stack is left behind.
        ctx.aws.client("ecr").delete_repository(repositoryName=actual["name"], force=True)


def deploy_permissions(ctx: Context) -> list[dict]:
    """The repository, and pushing an image to it (deploy.yml)."""
    return [
        reads("ecr:GetAuthorizationToken"),
        allow(
            [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchDeleteImage",
                "ecr:BatchGetImage",
                "ecr:CompleteLayerUpload",
                "ecr:CreateRepository",
                "ecr:DeleteRepository",
                "ecr:DescribeRepositories",
                "ecr:GetDownloadUrlForLayer",
                "ecr:InitiateLayerUpload",
                "ecr:ListTagsForResource",
                "ecr:PutImage",
                "ecr:PutImageScanningConfiguration",
                "ecr:PutImageTagMutability",
                "ecr:TagResource",
                "ecr:UploadLayerPart",
            ],
            arn(ctx, "ecr", f"repository/{ctx.settings.name('app')}"),
        ),
    ]
