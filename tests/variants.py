"""The named variants of the template that are baked, tested and deployed to moto.

Between them they choose every option at least once: HTTPS with and without a Route 53
zone, both kinds of NAT, a budget, and each database and logging switch.

`make test` covers each of them, and the template's CI runs one job per name, so a laptop
and CI prove the same things.
"""

VARIANTS: dict[str, dict[str, str]] = {
    "defaults": {},
    "other-region-and-cidrs": {
        "project_name": "Shop Front",
        "aws_region": "eu-west-1",
        "availability_zones": "eu-west-1b,eu-west-1c",
        "vpc_cidr": "172.16.0.0/20",
        "public_subnet_cidrs": "172.16.0.0/24,172.16.1.0/24",
        "private_subnet_cidrs": "172.16.8.0/24,172.16.9.0/24",
        "app_port": "8080",
        "domain_name": "shop.example.com",
        "nat_gateway": "single",
    },
    "three-azs": {
        "project_name": "Three Zones",
        "aws_region": "us-east-2",
        "public_subnet_cidrs": "10.0.1.0/24,10.0.4.0/24,10.0.7.0/24",
        "private_subnet_cidrs": "10.0.2.0/24,10.0.3.0/24,10.0.8.0/24",
        "app_min_size": "2",
        "app_desired_capacity": "3",
        "app_max_size": "6",
        "nat_gateway": "per_az",
        "alarm_email": "ops@example.com",
        "monthly_budget_usd": "30",
    },
    "hardened": {
        "project_name": "Hardened",
        "app_min_size": "2",
        "app_desired_capacity": "2",
        "app_max_size": "4",
        "db_multi_az": "yes",
        "deregistration_delay_seconds": "60",
        "db_deletion_protection": "yes",
        "db_performance_insights": "yes",
        "vpc_flow_logs": "yes",
        "alb_access_logs": "yes",
        "domain_name": "app.example.org",
        "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
        "nat_gateway": "per_az",
        "alarm_email": "ops@example.org",
        "monthly_budget_usd": "50",
    },
}

if __name__ == "__main__":
    import json

    print(json.dumps(sorted(VARIANTS)))
