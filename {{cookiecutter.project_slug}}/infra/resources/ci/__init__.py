"""`python -m infra bootstrap-ci`: the role GitHub Actions deploys this stack with.

Run once per stack with admin credentials. It creates GitHub's OIDC identity provider in
the account (when missing) and the role `<project>-<stack>-deploy-role`, which only the
repository's GitHub environment named after the stack can assume, through short-lived
OIDC credentials: no stored keys. Its permissions cover what plan, apply, destroy and
outputs of this one stack call, pushing to the stack's image repository, and watching the
instance refresh; nothing else.

Least privilege, the way AWS allows it: no `*` action and no service wildcard. Resources
are named by ARN where their names are known in advance (IAM, ECR, RDS, load balancer,
Auto Scaling group, log group, alarms, topic, lock); EC2 ids are not, so EC2 changes are
allowed only with the stack's Project and Stack tags on the request (creates) or on the
resource (everything after). `Resource: "*"` is left only for calls AWS does not scope.

`destroy` never deletes this role, since it is what runs destroy in CI: remove it with
`python -m infra bootstrap-ci --remove` after the stack is gone. The OIDC provider is
shared by every stack and repository of the account and is kept.
"""
