"""Fill in the README's cost table from the new project's own prices, then say what is next.

Runs in the generated project's folder. The cost table comes from the project's
`infra/costs.py` on its `stack.toml` with the bundled prices of `infra/prices.py` (all
standard library only): the numbers `python -m infra plan` prints without AWS credentials.
This hook does not ask the AWS Price List API as `plan` does: cookiecutter's Python need not
have boto3, generating files should not use whatever AWS credentials the shell holds without
being asked, and the template's own tests bake many projects and must never reach AWS.
"""

import json
import sys
import textwrap
from pathlib import Path

ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""

COST_TABLE_MARKER = "<!-- cost table -->"
FREE_PLAN_CREDITS_USD = 200
DAYS_PER_MONTH = 730 / 24  # the month infra/costs.py prices by

SUCCESS = "\x1b[1;32m"
INFO = "\x1b[1;33m"
TERMINATOR = "\x1b[0m"


def cost_table(project: Path) -> str:
    """The Markdown table of what the stack costs per month, and what that adds up to."""
    sys.dont_write_bytecode = True  # no __pycache__ left in the new project
    sys.path.insert(0, str(project))
    from infra.costs import monthly_estimate, quote, total  # noqa: PLC0415
    from infra.stack_file import load  # noqa: PLC0415

    settings = load(project / "stack.toml")
    prices = quote(settings)
    items = monthly_estimate(settings, prices)
    rows = [
        "| Item, as `plan` prints it | USD per month | Note |",
        "| --- | ---: | --- |",
        *(
            f"| {item} | {'unknown' if amount is None else f'{amount:.2f}'} | {note} |"
            for item, amount, note in items
        ),
    ]
    unknown = sum(amount is None for _, amount, _ in items)
    region = settings.aws_region
    monthly = total(items)
    rows.append(f"| **total{' of the known items' if unknown else ''}** | **{monthly:.2f}** | |")
    known = "The known items cost" if unknown else "So this stack costs"
    summary = (
        f"{known} about **${monthly:.0f} per month** in {region}, about "
        f"${monthly / DAYS_PER_MONTH:.2f} a day, before any free tier or credits (prices of "
        f"{prices.as_of}), and the same whether or not anyone visits the app: every item is "
        "billed by the hour or the month. The usage-based parts, small at student traffic, "
        "are not included: load balancer capacity units, data transfer out, CloudWatch "
        "alarms, dashboard and logs, and ECR image storage. "
    )
    if unknown:
        summary += unknown_prices(unknown)
    else:
        summary += (
            f"At this rate the Free Plan's ${FREE_PLAN_CREDITS_USD} of credits last about "
            f"{FREE_PLAN_CREDITS_USD / monthly:.1f} months."
        )
    return "\n".join(rows) + "\n\n" + textwrap.fill(summary, width=92)


def unknown_prices(count: int) -> str:
    return (
        f"{count} item(s) have no price in `infra/prices.py` for these settings and are shown "
        "as unknown rather than guessed: `python -m infra plan` with AWS credentials reads "
        "them from the AWS Price List API, or add them to the table with their source."
    )


def fill_cost_table(project: Path) -> None:
    readme = project / "README.md"
    text = readme.read_text(encoding="utf-8")
    readme.write_text(text.replace(COST_TABLE_MARKER, cost_table(project)), encoding="utf-8")


def next_steps(context: dict) -> str:
    slug = context["project_slug"]
    return "\n".join(
        [
            f"{SUCCESS}Generated {slug}/ for the {context['stack_name']} stack in "
            f"{context['aws_region']}.{TERMINATOR}",
            "Next steps:",
            f"  cd {slug}",
            "  make test           # the app on a real PostgreSQL, the deploy on moto",
            "  make dev            # run the app locally on an embedded PostgreSQL",
            "  make deploy-local   # deploy the whole stack to moto; no AWS account needed",
            f"{INFO}Before a real deploy, read README.md: credentials, costs.{TERMINATOR}",
        ]
    )


def main() -> int:
    context = json.loads(ANSWERS_JSON)
    fill_cost_table(Path.cwd())
    print(next_steps(context))
    return 0


if __name__ == "__main__":
    sys.exit(main())
