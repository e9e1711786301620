"""Tell the user what to do next."""

import json
import sys

ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""

SUCCESS = "\x1b[1;32m"
INFO = "\x1b[1;33m"
TERMINATOR = "\x1b[0m"


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
    print(next_steps(context))
    return 0


if __name__ == "__main__":
    sys.exit(main())
