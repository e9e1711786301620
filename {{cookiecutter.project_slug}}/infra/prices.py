"""The bundled price table: what `plan` and the README use when the AWS Price List API is
not asked (no credentials, an emulator, offline). Standard library only: the
post-generation hook reads it too.

On-demand list prices in USD, Linux, shared tenancy, per region. Every price names its
source (a key of SOURCES, which says where and when it was read). A price with no source is
left out, never guessed: the estimate then shows that item as unknown and says why. Keys:

- an EC2 instance type (`t3.micro`): per instance-hour;
- an RDS for PostgreSQL DB instance class (`db.t3.micro`): Single-AZ, per instance-hour;
- `ebs-gp3`: EBS gp3 volume, per GB-month;
- `rds-gp3`: RDS for PostgreSQL gp3 storage, Single-AZ, per GB-month;
- `alb`: Application Load Balancer, per load balancer-hour (LCUs not included);
- `public-ipv4`: per in-use public IPv4 address-hour;
- `nat-gateway`: per NAT gateway-hour (data processed not included);
- `secret`: Secrets Manager, per secret-month.

Multi-AZ (one standby) is not in the table: aws.amazon.com/rds/postgresql/pricing bills it
at twice the Single-AZ instance-hour and gp3 storage rates, and `price` applies that rule.
"""

from __future__ import annotations

MULTI_AZ = " Multi-AZ"  # suffix of a DB class or `rds-gp3` key: the Multi-AZ price

SOURCES = {
    "price-list-quote": (
        "the AWS Price List (the offer files behind aws.amazon.com/ec2/pricing, "
        "/rds/postgresql/pricing, /elasticloadbalancing/pricing and /vpc/pricing), as quoted "
        'line by line ("$0.0104 per On Demand Linux t3.micro Instance Hour") in public '
        "price-list extracts and bills; read 2026-11-26"
    ),
    "third-party-tables": (
        "two independent third-party price tables agreeing, not a quoted AWS price-list "
        "line: check them on the AWS pricing pages; read 2026-11-26"
    ),
    "one-third-party-table": (
        "one third-party price table (and inside the range a second one gives for Europe), "
        "not a quoted AWS price-list line: check it on aws.amazon.com/vpc/pricing; "
        "read 2026-11-26"
    ),
    "vpc-pricing-ohio-example": (
        'aws.amazon.com/vpc/pricing, its NAT gateway example in US East (Ohio): "$0.045 per '
        'hour", as transcribed verbatim on 2026-09-20 in raw.githubusercontent.com/'
        "api-evangelist/amazon-vpc/refs/heads/main/plans/amazon-vpc-plans-pricing.yml; "
        "read 2026-11-30"
    ),
    "basavytix-nat-2026": (
        'basavytix.com/blog/aws-nat-gateway-pricing: $0.045 per NAT gateway-hour ("these are '
        'the us-east-1 rates") and "ap-southeast-1 (Singapore) is $0.059/hr"; one '
        "third-party page, read 2026-11-30"
    ),
    "secrets-manager-pricing": (
        "aws.amazon.com/secrets-manager/pricing: $0.40 per secret per month, one price for "
        "every region; read 2026-11-26"
    ),
    "public-ipv4-charge": (
        "the public IPv4 charge since 2024-02-01, one rate for every public IPv4 address in "
        'every region: "a new $0.005/hr charge for all Public IPv4 addresses used by your AWS '
        "account\" (AWS's notice, quoted by jamiestarke.com/2023/12/01/amazon-web-services-"
        'new-public-ip-address-charge), "All AWS regions are affected ... without '
        'exception" (haufe-akademie.de/en/skill-it/blog/aws-gebuehren-ipv4-adressen); two '
        "third-party pages, AWS's own announcement (aws.amazon.com/blogs/aws/new-aws-public-"
        "ipv4-address-charge-public-ip-insights) not found in a readable copy; read 2026-11-30"
    ),
    "aws-samples-tokyo-2026": (
        "github.com/aws-samples/sample-ai-persona/pull/139 and its docs/cost_estimation.md "
        "(AWS's sample repository; unit prices from the AWS Price List API for ap-northeast-1, "
        'read 2026-09-11): NAT gateway "$0.062/時" (per hour); ALB base fee $17.7 a month, '
        "which is aws.darcy-it.com's ALB rate of 0.0243 USD an hour (a Japanese page that names "
        "no region) over 730 hours; read 2026-11-30"
    ),
    "fck-nat-issue-93": (
        "github.com/AndrewGuenther/fck-nat/issues/93 (2024-08-03): t4g.micro in us-east-2 "
        '"is 0.0084", read from aws.amazon.com/ec2/pricing/on-demand, and the maintainer\'s '
        "copy of that page's row (t4g.micro $0.0084); read 2026-11-30"
    ),
    "cisagov-issue-745": (
        "github.com/cisagov/cyhy_amis/issues/745 (2024-02-08), its us-east-1 On-Demand table: "
        "t3.small $0.0208, t4g.small $0.0168, t3.medium $0.0416, t4g.medium $0.0336; read "
        "2026-11-30"
    ),
    "t4g-micro-us-east-1": (
        "github.com/ChiefGyk3D/Clouds-Against-Humanity/wiki/Provider-AWS-Cost-Lesson: t4g.micro "
        '"$0.0084 per hour", US East (N. Virginia), read from AWS\'s price-list files on '
        "2026-10-16 (a page its author marks as an unverified draft), and the same $0.0084 in "
        "the copy of aws.amazon.com/ec2/pricing/on-demand in github.com/AndrewGuenther/fck-nat/"
        "issues/93; read 2026-11-30"
    ),
    "infratally-rds-2026": (
        "infratally.com/articles/aws-rds-pricing-explained-2026.html, its us-east-1 RDS for "
        "PostgreSQL Single-AZ table (db.t4g.micro $0.016, small $0.032, medium $0.065 an "
        "hour); one third-party page, read 2026-11-30"
    ),
    "cloud-bench-2026": (
        "cloud-bench.com/blog/aws-t3-micro-vs-t3-small: on-demand us-east-1 t3.micro "
        "$0.0104/hr, t3.small $0.0208/hr; one third-party page, read 2026-11-30. (densify.com/"
        "articles/aws-ec2-t3-burstable-instances lists $0.0209 for t3.small without a region "
        "or date: not used)"
    ),
    "cloud-bench-regions-2026": (
        "cloud-bench.com/blog/aws-t2-micro-vs-t3-micro, its per-region table: t3.micro "
        "us-west-2 $0.0104/hr, eu-west-1 $0.0114/hr (as the eu-west-1 price-list quote). Its "
        "ap-southeast-1 row is not used: its t2.micro there ($0.0132) disagrees with the AWS "
        "Price List answer in github.com/guan840912/ec2-pricing-provider's README ($0.0146); "
        "one third-party page, read 2026-11-30"
    ),
    "go-cloud-ec2-2026": (
        'go-cloud.io EC2 pricing guide (2026): "t3.large instance in us-east-1 costs $0.0832/'
        'hour"; hacecuentas.com/en/costo-servidor-cloud-aws-ec2-mensual (reviewed '
        "2026-04-17) gives the same $0.0832/hr without naming a region; read 2026-11-30. "
        "(densify.com, above, lists $0.0835 without a region or date: not used)"
    ),
    "t3-medium-2026": (
        'cal53.calculator.city/calculate-cost-of-amazon-ec2: "t3.medium in us-east-1 costs '
        '$0.0416/hour"; hacecuentas.com/en/costo-servidor-cloud-aws-ec2-mensual (reviewed '
        "2026-04-17) gives the same $0.0416/hr without naming a region, and so does "
        "github.com/cisagov/cyhy_amis/issues/745 for us-east-1 (2024-02-08); read 2026-11-30. "
        "(densify.com lists $0.0418 without a region or date: not used)"
    ),
    "infracanvas-price-snapshot": (
        "github.com/johnbekele/infracanvas, data/pricing/README.md: its slice of the AWS Price "
        "List (on-demand offer files, rebuilt monthly) and a spot check of it against the AWS "
        "pricing pages on 2026-08-10: RDS db.t3.micro PostgreSQL Single-AZ, eu-central-1, SKU "
        "VJNEKAFRR6K9PXWQ, usage type EUC1-InstanceUsage:db.t3.micro, $0.021 an hour; one "
        "repository's reading of the price list, not a verbatim description line; read "
        "2026-12-01"
    ),
    "tokyo-price-list-2026-09": (
        "a public GitHub repository's Japanese notes on where its facts come from (titled "
        '"sources of external facts, checked 2026-09-11"), quoting the AWS Price List Bulk API '
        'for ap-northeast-1 verbatim: AmazonEC2 version 20260910195514, "$0.0216 per On Demand '
        'Linux t4g.small Instance Hour" and "$0.096 per GB-month of General Purpose (gp3) '
        "provisioned storage - Asia Pacific (Tokyo)\"; its RDS lines are MySQL's, not used; "
        "read 2026-12-01"
    ),
    "eu-west-1-rds-skus-2026": (
        "a public repository's launch-cost notes for eu-west-1 (checked 2026-09-14), read "
        "from AWS's RDS offer file (pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonRDS/"
        "current/eu-west-1/index.csv), naming its SKUs: M4GMEFVGGWNKH9B6, PostgreSQL "
        "db.t4g.micro Single-AZ, $0.017 an hour; S32D6FQC3879C222, Single-AZ gp3 storage, "
        "$0.127 per GiB-month. Two 2026 Cost Explorer readings in other public repositories "
        "agree ($0.0170 an hour; $2.54 for 20 GiB of EU-RDS:GP3-Storage); one cost page's "
        "$0.018 does not, and the SKU reading settles it; read 2026-12-01"
    ),
    "opencost-us-east-2-offer": (
        "github.com/opencost/opencost, pkg/cloud/aws/testdata/pricing-us-east-2.json: an "
        "excerpt of the AmazonEC2 offer file (version 20230322145651, effective 2023-03-01) "
        'quoting "$0.08 per GB-month of General Purpose (gp3) provisioned storage - US East '
        '(Ohio)", usage type USE2-EBS:VolumeUsage.gp3; read 2026-12-01'
    ),
}

# The date of the newest price in TABLE: what `plan` prints as "prices of" offline.
TABLE_AS_OF = "2026-12-01"

# What no source was found for stays out (unknown): t4g.large everywhere and every other t4g
# outside us-east-1 but us-east-2's micro and Tokyo's small; t3 above micro; every db.t4g
# outside us-east-1 but eu-west-1's micro; db.t3 above micro and db.t4g.large everywhere;
# eu-west-1's db.t3.micro; and in us-east-2, us-west-2, eu-central-1, ap-southeast-1 and
# ap-northeast-1 all but the few items listed. No price is derived from another size or
# region: no AWS page found states a rule for that.
TABLE: dict[str, dict[str, tuple[float, str]]] = {
    "us-east-1": {
        "public-ipv4": (0.005, "price-list-quote"),
        "t3.micro": (0.0104, "price-list-quote"),
        "t3.small": (0.0208, "cloud-bench-2026"),
        "t3.medium": (0.0416, "t3-medium-2026"),
        "t4g.micro": (0.0084, "t4g-micro-us-east-1"),
        "t4g.small": (0.0168, "cisagov-issue-745"),
        "t4g.medium": (0.0336, "cisagov-issue-745"),
        "t3.large": (0.0832, "go-cloud-ec2-2026"),
        "db.t3.micro": (0.018, "price-list-quote"),
        "db.t4g.micro": (0.016, "infratally-rds-2026"),
        "db.t4g.small": (0.032, "infratally-rds-2026"),
        "db.t4g.medium": (0.065, "infratally-rds-2026"),
        "ebs-gp3": (0.08, "price-list-quote"),
        "rds-gp3": (0.115, "price-list-quote"),
        "alb": (0.0225, "price-list-quote"),
        "nat-gateway": (0.045, "basavytix-nat-2026"),
    },
    "us-east-2": {
        "public-ipv4": (0.005, "public-ipv4-charge"),
        "t4g.micro": (0.0084, "fck-nat-issue-93"),
        "ebs-gp3": (0.08, "opencost-us-east-2-offer"),
        "nat-gateway": (0.045, "vpc-pricing-ohio-example"),
    },
    "us-west-2": {
        "public-ipv4": (0.005, "public-ipv4-charge"),
        "t3.micro": (0.0104, "cloud-bench-regions-2026"),
    },
    "ap-south-1": {
        "public-ipv4": (0.005, "price-list-quote"),
        "t3.micro": (0.0112, "third-party-tables"),
        "db.t3.micro": (0.021, "third-party-tables"),
        "ebs-gp3": (0.0912, "price-list-quote"),
        "rds-gp3": (0.131, "price-list-quote"),
        "alb": (0.0239, "price-list-quote"),
        "nat-gateway": (0.056, "third-party-tables"),
    },
    "ap-southeast-1": {
        "public-ipv4": (0.005, "public-ipv4-charge"),
        "nat-gateway": (0.059, "basavytix-nat-2026"),
    },
    "eu-west-1": {
        "public-ipv4": (0.005, "price-list-quote"),
        "t3.micro": (0.0114, "price-list-quote"),
        "db.t4g.micro": (0.017, "eu-west-1-rds-skus-2026"),
        "ebs-gp3": (0.088, "price-list-quote"),
        "rds-gp3": (0.127, "eu-west-1-rds-skus-2026"),
        "alb": (0.0252, "price-list-quote"),
        "nat-gateway": (0.048, "one-third-party-table"),
    },
    "eu-central-1": {
        "public-ipv4": (0.005, "public-ipv4-charge"),
        "db.t3.micro": (0.021, "infracanvas-price-snapshot"),
    },
    "ap-northeast-1": {
        "public-ipv4": (0.005, "public-ipv4-charge"),
        "t4g.small": (0.0216, "tokyo-price-list-2026-09"),
        "ebs-gp3": (0.096, "tokyo-price-list-2026-09"),
        "alb": (0.0243, "aws-samples-tokyo-2026"),
        "nat-gateway": (0.062, "aws-samples-tokyo-2026"),
    },
}
# One price for every region, as its page quotes it. (The public IPv4 rate is one rate too,
# but stays per region above: `plan` asks the Price List API for what is in TABLE.)
EVERY_REGION: dict[str, tuple[float, str]] = {"secret": (0.40, "secrets-manager-pricing")}


def price(region: str, key: str) -> tuple[float, str] | None:
    """(USD, source key) of one item in one region, or None when the table has no source."""
    prices = TABLE.get(region, {}) | EVERY_REGION
    if key.endswith(MULTI_AZ):
        single = prices.get(key.removesuffix(MULTI_AZ))
        return None if single is None else (2 * single[0], single[1])
    return prices.get(key)
