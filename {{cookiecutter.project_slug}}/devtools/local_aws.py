"""Deploy the stack to an emulated AWS on this machine: moto_server on 127.0.0.1.

    python -m devtools.local_aws up        start the emulator (if not running), print its env
    python -m devtools.local_aws deploy    up, then `python -m infra apply` on it, with its outputs
    python -m devtools.local_aws destroy   `python -m infra destroy` on it, then stop it
    python -m devtools.local_aws down      stop the emulator (its state is lost)

No AWS account, no cost: the credentials are dummies and every call goes to the emulator
through AWS_ENDPOINT_URL. The server's pid and port live in .local-aws/ in the project.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from devtools import moto_server, processes, stop_signals
from devtools.emulated_aws import NOT_EMULATED, without_account_only_settings

CODE_ROOT = Path(__file__).resolve().parent.parent  # where the infra package is
PROJECT_ROOT = CODE_ROOT  # where stack.toml is
STATE_DIR = PROJECT_ROOT / ".local-aws"
STATE_FILE = STATE_DIR / "server.json"
LOG_FILE = STATE_DIR / "server.log"
HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 5
LOCAL_CONFIG = STATE_DIR / "stack.toml"

GREEN, RED, RESET = "\x1b[32m", "\x1b[31m", "\x1b[0m"
# The deploy tool's advice, in the commands that do the same on the emulator.
LOCAL_COMMANDS = {
    "`python -m infra apply`": "`make deploy-local`",
    "`python -m infra destroy`": "`make destroy-local`",
}


def endpoint(port: int) -> str:
    return f"http://{HOST}:{port}"


def status_url(port: int) -> str:
    return f"{endpoint(port)}/moto-api/"


def answers(port: int) -> bool:
    try:
        return processes.http_get(status_url(port), timeout=2)[0] == 200
    except OSError:
        return False


def read_state() -> dict | None:
    try:
        state = json.loads(STATE_FILE.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return state if answers(state["port"]) else None


def environment(port: int) -> dict[str, str]:
    """The caller's environment pointed at the emulator, with dummy credentials only."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
    }
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint(port),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return env


def start() -> dict:
    """The running emulator, started in the background if needed."""
    state = read_state()
    if state is not None:
        return state
    STATE_DIR.mkdir(exist_ok=True)
    port = processes.free_port(HOST)
    with LOG_FILE.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            moto_server.command(HOST, port),
            env=moto_server.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=STATE_DIR,
        )
    try:
        processes.wait_until_ready(process, status_url(port), START_TIMEOUT_SECONDS)
    except processes.ServerFailed:
        processes.stop(process, STOP_TIMEOUT_SECONDS)
        raise SystemExit(f"{RED}moto_server did not start; see {LOG_FILE}{RESET}") from None
    state = {"pid": process.pid, "port": port}
    STATE_FILE.write_text(json.dumps(state), encoding="utf-8")
    try:
        seed_emulator(port)
    except Exception as error:  # noqa: BLE001 - one line, and no emulator left running
        stop()
        raise SystemExit(f"{RED}moto_server could not be prepared: {error}{RESET}") from None
    return state


def seed_emulator(port: int) -> None:
    """Emulator scaffolding: make sure the public AMI parameters the deploy reads exist.

    moto ships them; if a moto version does not, put one in, pointing at an Amazon Linux
    image moto knows. Real AWS always has them, and the deploy tool never creates them.
    """
    import boto3  # noqa: PLC0415 - only needed once the server runs

    env = environment(port)
    region = stack_region()
    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=region,
    )
    ssm = session.client("ssm", endpoint_url=env["AWS_ENDPOINT_URL"])
    ec2 = session.client("ec2", endpoint_url=env["AWS_ENDPOINT_URL"])
    for arch in ("x86_64", "arm64"):
        name = f"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"
        try:
            ssm.get_parameter(Name=name)
        except ssm.exceptions.ParameterNotFound:
            images = ec2.describe_images(
                Owners=["amazon"], Filters=[{"Name": "architecture", "Values": [arch]}]
            )["Images"]
            if images:
                ssm.put_parameter(Name=name, Value=images[0]["ImageId"], Type="String")


def local_config() -> Path:
    """stack.toml without the settings the emulator cannot stand in for, in .local-aws/."""
    stack_toml = (PROJECT_ROOT / "stack.toml").read_text(encoding="utf-8")
    text, left_out = without_account_only_settings(stack_toml)
    for key in left_out:
        print(f"Left out locally: {key} ({NOT_EMULATED[key]}).")
    STATE_DIR.mkdir(exist_ok=True)
    LOCAL_CONFIG.write_text(text, encoding="utf-8")
    return LOCAL_CONFIG


def stack_region() -> str:
    from infra.stack_file import load  # noqa: PLC0415

    return load(LOCAL_CONFIG).aws_region


def settings_problems() -> list[str]:
    """What is wrong in stack.toml (as the emulator gets it), checked before anything starts."""
    from infra.stack_file import load  # noqa: PLC0415
    from infra.validation import InvalidSettings  # noqa: PLC0415

    try:
        load(local_config())
    except InvalidSettings as invalid:
        return [str(problem) for problem in invalid.problems]
    return []


def stop() -> bool:
    try:
        state = json.loads(STATE_FILE.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return False
    processes.stop_pid(state["pid"], STOP_TIMEOUT_SECONDS)
    STATE_FILE.unlink(missing_ok=True)
    return True


def local_advice(line: str) -> str:
    for command, local in LOCAL_COMMANDS.items():
        line = line.replace(command, local)
    return line


def infra(port: int, *args: str) -> int:
    """`python -m infra ARGS` on the emulator; its errors are passed on in local terms.
    Interrupted, it is interrupted as Ctrl-C would, and left to finish what it was doing."""
    command = [sys.executable, "-m", "infra", *args]
    print(f"$ python {' '.join(command[1:])}   (AWS_ENDPOINT_URL={endpoint(port)})", flush=True)
    process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
        command, env=environment(port), cwd=CODE_ROOT, stderr=subprocess.PIPE, text=True
    )
    try:
        for line in process.stderr:
            sys.stderr.write(local_advice(line))
            sys.stderr.flush()
        return process.wait()
    except KeyboardInterrupt:
        with stop_signals.uninterrupted():
            process.send_signal(signal.SIGINT)
            process.wait()
        raise


def settings_refused() -> bool:
    problems = settings_problems()
    for problem in problems:
        print(f"{RED}stack.toml: {problem}{RESET}", file=sys.stderr)
    if problems:
        print("Nothing was started. Fix stack.toml and run the same command again.")
    return bool(problems)


def print_environment(port: int) -> None:
    print(f"{GREEN}Local AWS (moto_server) runs at {endpoint(port)}.{RESET} To use it by hand:")
    for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        print(f"  export {key}={environment(port)[key]}")


def cmd_up() -> int:
    if settings_refused():
        return 1
    print_environment(start()["port"])
    return 0


def cmd_deploy() -> int:
    if settings_refused():
        return 1
    started_here = read_state() is None
    code = 1
    try:
        port = start()["port"]
        print_environment(port)
        code = infra(port, "apply", "--auto-approve", "--config", str(LOCAL_CONFIG))
    finally:
        if code != 0 and started_here:
            with stop_signals.uninterrupted():
                stop()
            print("Local AWS stopped: it was started for this deploy, which did not finish.")
        elif code != 0:
            print("The local AWS still runs, with what earlier deploys made: make destroy-local")
    return code


def cmd_destroy() -> int:
    state = read_state()
    if state is None:
        stop()
        print("Nothing to destroy: the local AWS is not running.")
        return 0
    code = 1
    try:
        if not settings_refused():
            code = infra(state["port"], "destroy", "--auto-approve", "--config", str(LOCAL_CONFIG))
    finally:
        with stop_signals.uninterrupted():
            stop()
        if code == 0:
            print("Local AWS stopped.")
        else:
            print("Local AWS stopped, and the local stack with it: the emulator keeps nothing.")
    return code


def cmd_down() -> int:
    print("Local AWS stopped." if stop() else "Local AWS was not running.")
    return 0


COMMANDS = {"up": cmd_up, "deploy": cmd_deploy, "destroy": cmd_destroy, "down": cmd_down}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in COMMANDS:
        print("usage: python -m devtools.local_aws " + "|".join(COMMANDS), file=sys.stderr)
        return 2
    stop_signals.stop_on_signals()
    try:
        return COMMANDS[args[0]]()
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
