"""`python -m infra validate|plan|apply|destroy|outputs|bootstrap-ci`: arguments, exit codes.

Exit codes: 0 success (plan: no changes), 2 plan has changes, 1 error. Expected errors are
one line with the fix; anything else also says how to resume. When whatever reads the
output stops reading (`python -m infra outputs --json | head -1`), the command ends quietly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from infra import checks, costs, engine, outputs, plan_output, price_list, stack
from infra.aws import Aws, translate
from infra.engine import Context, Printer
from infra.lock import StackLock
from infra.resources.ci import deploy_role, github, instructions
from infra.resources.shared.names import deploy_role_name
from infra.stack_file import DEFAULT_PATH, load
from infra.validation import InvalidSettings, StackSettings

RED, GREEN, BOLD, RESET = "\x1b[31m", "\x1b[32m", "\x1b[1m", "\x1b[0m"
READ_ONLY_COMMANDS = ("validate", "plan", "outputs")


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--stack",
        default=argparse.SUPPRESS,
        help="deploy another copy: overrides stack_name, applies [stacks.NAME]",
    )
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="the settings file (default: stack.toml of this project)",
    )
    main = argparse.ArgumentParser(
        prog="python -m infra",
        parents=[common],
        description="Deploy the stack described in stack.toml to AWS.",
    )
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("validate", parents=[common], help="check stack.toml and the AWS account")
    plan = commands.add_parser("plan", parents=[common], help="show what apply would change")
    apply = commands.add_parser("apply", parents=[common], help="create or update the stack")
    destroy = commands.add_parser("destroy", parents=[common], help="delete the whole stack")
    out = commands.add_parser("outputs", parents=[common], help="show the app URL, endpoints, ids")
    for command in (plan, apply):
        command.add_argument(
            "--image-tag",
            help="image tag to run (default: $IMAGE_TAG, else the tag running now, else latest)",
        )
        command.add_argument(
            "--update-image",
            action="store_true",
            help="move the instances to the newest Amazon Linux 2023 image (kept until asked)",
        )
    for command in (apply, destroy):
        command.add_argument("--auto-approve", action="store_true", help="do not ask to confirm")
        command.add_argument(
            "--break-lock",
            action="store_true",
            help="remove the lock a dead run left behind, then go on",
        )
    destroy.add_argument(
        "--skip-final-snapshot",
        action="store_true",
        help="delete the database without a final snapshot",
    )
    out.add_argument("--json", action="store_true", help="print a JSON object")
    bootstrap = commands.add_parser(
        "bootstrap-ci",
        parents=[common],
        help="let GitHub Actions deploy this stack (run once, with admin credentials)",
        description=(
            "Creates GitHub's OIDC identity provider in the account if it is missing, and "
            "the role <project>-<stack>-deploy-role that only jobs of --github-repo running "
            "in its GitHub environment named after the stack can assume. The role may do "
            "what plan, apply, destroy and outputs of this stack need, push to its image "
            "repository and watch instance refreshes; nothing else. Prints the repository "
            "variables to set. Running it again changes nothing; destroy keeps the role."
        ),
    )
    target = bootstrap.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--github-repo",
        metavar="OWNER/NAME",
        help="the GitHub repository whose deploy.yml and destroy.yml may use the role",
    )
    target.add_argument(
        "--remove",
        action="store_true",
        help="delete the deploy role (after destroy); the shared OIDC provider is kept",
    )
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out = Printer()
    try:
        settings = load(getattr(args, "config", DEFAULT_PATH), getattr(args, "stack", None))
    except InvalidSettings as problems:
        _error(f"stack.toml has {len(problems.problems)} problem(s):")
        for problem in problems.problems:
            _error(f"  {problem}")
        return 1
    read_only = args.command in READ_ONLY_COMMANDS
    try:
        code = COMMANDS[args.command](args, settings, out)
        sys.stdout.flush()  # here, where a closed pipe can still be handled
        return code
    except BrokenPipeError:
        _silence_stdout()
        if not read_only:
            _error("The output was closed: run the same command again to see it finish.")
        return 1
    except KeyboardInterrupt:
        if read_only:
            _error("Interrupted; nothing was changed.")
        else:
            _error("Interrupted. Run the same command again to finish; nothing is duplicated.")
        return 1
    except Exception as error:  # noqa: BLE001 - the last line of defence decides the exit code
        cause = error
        message = translate(cause)
        if message is not None:
            _error(f"Error: {message}")
            return 1
        traceback.print_exception(cause, file=sys.stderr)
        _error(f"Error: {type(cause).__name__}: {cause}")
        if read_only:
            _error(f"Nothing was changed: {args.command} only reads the stack.")
        else:
            _error("The stack may be half changed: run the same command again to resume.")
        return 1


def _silence_stdout() -> None:
    """Whatever is still buffered for the closed pipe goes nowhere, so Python's flush at exit
    does not print a BrokenPipeError of its own."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _error(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def context(args, settings: StackSettings, out: Printer, aws: Aws | None = None) -> Context:
    """A fresh state to read into; `aws` reuses the clients of an earlier context."""
    return Context(
        settings,
        aws or Aws(settings.aws_region),
        out,
        image_tag=getattr(args, "image_tag", None),
        update_image=getattr(args, "update_image", False),
    )


def confirm(out: Printer, question: str) -> bool:
    out(f"\n{BOLD}{question}{RESET}\n  Only 'yes' will be accepted to approve.\n")
    try:
        return input("  Enter a value: ").strip() == "yes"
    except EOFError:
        return False


def stack_resources(ctx: Context) -> list[engine.Resource]:
    """The stack's resources, refused when their dependencies do not form one graph."""
    resources = stack.resources(ctx)
    engine.check_graph(resources)
    return resources


def cmd_validate(args, settings: StackSettings, out: Printer) -> int:
    out(
        f"stack.toml: ok (stack {settings.stack_name} of {settings.project_slug} "
        f"in {settings.aws_region})"
    )
    out("AWS checks:")
    failures = checks.validate(context(args, settings, out), out)
    if failures:
        _error(f"Error: {failures} check(s) failed; fix them and run validate again.")
        return 1
    out(f"{GREEN}Success!{RESET} The configuration is valid.")
    return 0


def cmd_plan(args, settings: StackSettings, out: Printer) -> int:
    ctx = context(args, settings, out)
    checks.preflight(ctx)
    actions = engine.plan(ctx, stack_resources(ctx))
    for line in [
        *plan_output.render(actions, ctx.state),
        *ctx.notes,
        "",
        *costs.render_estimate(settings, costs.quote(settings, ctx.aws, price_cache(args))),
    ]:
        out(line)
    if any(action.error for action in actions):
        return 1
    return 2 if engine.has_changes(actions) else 0


def price_cache(args) -> Path:
    """Prices read from the Price List API are kept next to the settings file."""
    return Path(getattr(args, "config", DEFAULT_PATH)).parent / price_list.CACHE_FOLDER


def cmd_apply(args, settings: StackSettings, out: Printer) -> int:
    ctx = context(args, settings, out)
    checks.preflight(ctx)
    lock = StackLock(ctx.aws, settings, "apply")
    if args.break_lock:
        _break(lock, out)
    if not engine.has_changes(engine.plan(ctx, stack_resources(ctx))):
        out("No changes. Your infrastructure matches the configuration.")
        for line in ctx.notes:
            out(line)
        _print_outputs(ctx, out)
        return 0
    with lock:
        ctx = context(args, settings, out, ctx.aws)  # plan again: no one else can change it now
        actions = engine.plan(ctx, stack_resources(ctx))
        for line in plan_output.render(actions, ctx.state):
            out(line)
        if any(action.error for action in actions):
            return 1
        if not engine.has_changes(actions):
            return 0
        if not args.auto_approve and not confirm(out, "Do you want to perform these actions?"):
            _error("Apply cancelled.")
            return 1
        out("")
        added, changed, destroyed = engine.apply(ctx, actions)
    out(
        f"\n{GREEN}Apply complete! Resources: {added} added, {changed} changed, "
        f"{destroyed} destroyed.{RESET}\n"
    )
    _print_outputs(ctx, out)
    return 0


def cmd_destroy(args, settings: StackSettings, out: Printer) -> int:
    ctx = context(args, settings, out)
    checks.check_region(ctx.aws)
    checks.check_credentials(ctx.aws)
    lock = StackLock(ctx.aws, settings, "destroy")
    if args.break_lock:
        _break(lock, out)
    resources = engine.read_all(ctx, stack_resources(ctx))
    if not any(ctx.state.values()):
        out("Nothing to destroy: no resource of this stack exists.")
        return 0
    with lock:
        ctx = context(args, settings, out, ctx.aws)
        ctx.skip_final_snapshot = args.skip_final_snapshot
        resources = engine.read_all(ctx, stack_resources(ctx))
        engine.check_destroy(ctx, resources)  # refuse before asking, e.g. deletion protection
        existing = [
            (r.address, r.resource_id(ctx.state[r.address]))
            for r in reversed(resources)  # dependents first, as destroy goes
            if ctx.state.get(r.address) is not None
        ]
        for line in plan_output.render_destroy(existing):
            out(line)
        if not args.skip_final_snapshot:
            out(
                "The database gets a final snapshot, kept after destroy "
                "(--skip-final-snapshot to skip it)."
            )
        if not args.auto_approve and not confirm(
            out, f"Do you really want to destroy all resources of stack {settings.stack_name}?"
        ):
            _error("Destroy cancelled.")
            return 1
        out("")
        destroyed = engine.destroy(ctx, resources)
    out(f"\n{GREEN}Destroy complete! Resources: {destroyed} destroyed.{RESET}")
    kept = instructions.kept_after_destroy(ctx)
    if kept:
        out(kept)
    return 0


def cmd_outputs(args, settings: StackSettings, out: Printer) -> int:
    ctx = context(args, settings, out)
    engine.read_all(ctx, stack_resources(ctx))
    values = outputs.collect(ctx)
    if not values:
        _error(f"Error: stack {settings.stack_name} is not deployed: run `python -m infra apply`.")
        return 1
    if args.json:
        out(json.dumps(values, indent=2))
    else:
        for line in outputs.render(values):
            out(line)
    return 0


def cmd_bootstrap_ci(args, settings: StackSettings, out: Printer) -> int:
    from infra.aws import DeployError
    from infra.resources.ci import github_environment

    repository = None if args.remove else github.check_github_repo(args.github_repo)
    ctx = context(args, settings, out)
    checks.check_region(ctx.aws)
    checks.check_credentials(ctx.aws)
    resources = deploy_role.resources(repository)
    actions = engine.plan(ctx, resources)
    if not engine.has_changes(actions):
        if repository is None:
            out(f"Nothing to remove: the deploy role {deploy_role_name(ctx)} does not exist.")
            return 0
        out("No changes: the OIDC provider and the deploy role are already set up.\n")
    else:
        for line in plan_output.render(actions, ctx.state):
            out(line)
        out("")
        added, changed, destroyed = engine.apply(ctx, actions)
        out(
            f"\n{GREEN}Bootstrap complete! Resources: {added} added, {changed} changed, "
            f"{destroyed} destroyed.{RESET}\n"
        )
        if repository is None:
            out(
                "The OIDC provider token.actions.githubusercontent.com is kept: other "
                "stacks and repositories may use it."
            )
            return 0
    for line in instructions.instructions(ctx, repository):
        out(line)
    out("")
    stack, credentials = settings.stack_name, github_environment.token()
    if credentials is None:
        for line in instructions.branch_rule_commands(repository, stack):
            out(line)
        return 0
    try:
        rule = github_environment.restrict_to_default_branch(repository, stack, credentials)
    except DeployError:
        for line in instructions.branch_rule_commands(repository, stack, failed=True):
            out(line)
        raise
    for line in instructions.branch_rule_set(repository, stack, rule):
        out(line)
    return 0


def _break(lock: StackLock, out: Printer) -> None:
    info = lock.break_lock()
    if info is None:
        out("No lock to break.")
    else:
        out(
            f"Removed the lock held by {info.get('holder')} ({info.get('command')}) "
            f"since {info.get('since')}."
        )


def _print_outputs(ctx: Context, out: Printer) -> None:
    values = outputs.collect(ctx)
    if values:
        out("Outputs:\n")
        for line in outputs.render(values):
            out(line)


COMMANDS = {
    "validate": cmd_validate,
    "plan": cmd_plan,
    "apply": cmd_apply,
    "destroy": cmd_destroy,
    "outputs": cmd_outputs,
    "bootstrap-ci": cmd_bootstrap_ci,
}
