"""moto_server with devtools/moto_fixes.py applied, as `make deploy-local` and the deploy
benchmark run it: `python -m devtools.moto_server -H HOST -p PORT`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def command(host: str, port: int | str) -> list[str]:
    return [sys.executable, "-m", "devtools.moto_server", "-H", host, "-p", str(port)]


def environment() -> dict[str, str]:
    """This environment, with the project importable from any working directory and
    certificates issued at once (there is no DNS to validate them through)."""
    paths = [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]
    return {
        **os.environ,
        "MOTO_ACM_VALIDATION_WAIT": "0",
        "PYTHONPATH": os.pathsep.join(path for path in paths if path),
    }


if __name__ == "__main__":
    from moto import server

    from devtools import moto_fixes

    moto_fixes.install()
    server.main(sys.argv[1:])
