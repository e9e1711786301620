"""Every AWS resource the deploy tool manages, one package or module per tier.

- `network/`: VPC, subnets, routes, NAT gateways, security groups, flow logs
- `app/`: image registry, log group, instance role, launch template and Auto Scaling group
- `database.py`: RDS PostgreSQL, its subnet group and parameter group
- `edge/`: load balancer, listeners, access logs, certificate, DNS
- `observability/`: alarms, alarm topic, dashboard, budget
- `ci/`: the GitHub Actions deploy role, made by `bootstrap-ci` (not part of the stack)
- `shared/`: what more than one tier uses: addresses, names, EC2/IAM/Route 53 helpers, and
  the generic `Role` and `LogGroup` resources

No tier module imports another tier's module: they name each other by address
(`shared/addresses.py`), and the engine orders them from `depends_on`.
"""
