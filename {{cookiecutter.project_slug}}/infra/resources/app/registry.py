"""The container registry: one ECR repository per stack, scanned on push, with a lifecycle
policy so images do not pile up (and cost) forever."""

from __future__ import annotations

from infra import tags
from infra.engine import Change, Context, Resource
from infra.resources.shared.addresses import REPOSITORY
from infra.resources.shared.iam import canonical
from infra.resources.shared.permissions import allow, arn, reads

# Tagged images the repository keeps, newest first by push time; ECR expires older ones
# within a day. deploy.yml pushes one image per deploy, tagged with the commit, and deploys
# that tag at once, so the running image is the newest and the 29 before it are what a
# rollback (`apply --image-tag <older sha>`) can go back to. Only pushing more than this
# many images without deploying one could expire the running image.
KEEP_TAGGED_IMAGES = 30
# Untagged images (a tag moved to a newer push, a failed push) go after a day.
UNTAGGED_IMAGE_DAYS = 1


def lifecycle_policy() -> dict:
    """Amazon ECR User Guide, "Lifecycle policy properties" and "Examples of lifecycle
    policies": rules are applied by `rulePriority`, lowest first, each unique; an image
    matched by a rule's tag selection is not expired by a later rule; `tagged` needs a
    `tagPatternList` (or `tagPrefixList`), whose `*` matches any characters, so `["*"]`
    selects every tagged image; `countUnit` goes with `sinceImagePushed` only;
    `imageCountMoreThan` keeps the newest `countNumber` images."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Expire untagged images after {UNTAGGED_IMAGE_DAYS} day",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": UNTAGGED_IMAGE_DAYS,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"Keep the last {KEEP_TAGGED_IMAGES} tagged images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": KEEP_TAGGED_IMAGES,
                },
                "action": {"type": "expire"},
            },
        ]
    }


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
        try:
            policy = canonical(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
        except ecr.exceptions.LifecyclePolicyNotFoundException:
            policy = None
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
            "lifecycle_policy": policy,
            "tags": tags.ours(tags.from_list(listed), tags.stack_tags(ctx.settings)),
        }

    def desired(self, ctx: Context) -> dict | None:
        # Tags stay mutable so `latest` can be pushed again; deploys pin a tag anyway.
        return {
            "name": ctx.settings.name("app"),
            "scan_on_push": True,
            "image_tag_mutability": "MUTABLE",
            "encryption_type": "AES256",
            "lifecycle_policy": canonical(lifecycle_policy()),
            "tags": tags.stack_tags(ctx.settings),
        }

    def create(self, ctx: Context, desired: dict) -> None:
        ecr = ctx.aws.client("ecr")
        ecr.create_repository(
            repositoryName=desired["name"],
            imageTagMutability=desired["image_tag_mutability"],
            imageScanningConfiguration={"scanOnPush": desired["scan_on_push"]},
            encryptionConfiguration={"encryptionType": desired["encryption_type"]},
            tags=tags.as_list(desired["tags"]),
        )
        ecr.put_lifecycle_policy(
            repositoryName=desired["name"], lifecyclePolicyText=desired["lifecycle_policy"]
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
        if actual["lifecycle_policy"] != desired["lifecycle_policy"]:
            ecr.put_lifecycle_policy(
                repositoryName=name, lifecyclePolicyText=desired["lifecycle_policy"]
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
                "ecr:GetLifecyclePolicy",
                "ecr:InitiateLayerUpload",
                "ecr:ListTagsForResource",
                "ecr:PutImage",
                "ecr:PutImageScanningConfiguration",
                "ecr:PutImageTagMutability",
                "ecr:PutLifecyclePolicy",
                "ecr:TagResource",
                "ecr:UploadLayerPart",
            ],
            arn(ctx, "ecr", f"repository/{ctx.settings.name('app')}"),
        ),
    ]
