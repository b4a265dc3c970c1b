"""`govsign serve`: uvicorn with N worker processes, their shared metrics folder and the log format.

Why the workers used to die at start under load ("Child process [...] died", /healthz down ~15 s):
uvicorn's supervisor pings each worker every half second and kills one that does not answer within 5 s
(``timeout_worker_healthcheck``). Workers are *spawned*, and multiprocessing's spawn first re-imports the
parent's main module in the child, before uvicorn's answering thread starts. Run as the console script
``govsign``, that module imports the whole CLI (the CA, signing, validation, pyHanko: ~3 s of CPU, twice
that on two busy cores), so under load the first ping timed out, the supervisor killed the worker, and its
replacement met the same fate until the load eased. ``python -m govsign`` escaped it: multiprocessing skips
a main module named ``*.__main__``. :func:`_spawn_without_main` names the console script so too (workers
need nothing from it: uvicorn imports the application by name), and each worker opens the CA (database,
PKCS#11 login) before it accepts connections, so a burst of first requests does not do it eight times.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from typing import Annotated

import typer

from ca.errors import ConfigurationError
from govsign.cli.output import err
from govsign.config.logs import uvicorn_log_config
from govsign.config.settings import Settings, load_settings

__all__ = ["serve", "serve_command"]

METRICS_FOLDER = "metrics"  # under GOVSIGN_HOME: prometheus-client's multiprocess files


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
) -> None:
    """Serve the HTTP API, the PKI endpoints and the web pages with uvicorn."""
    import uvicorn

    settings = load_settings()
    settings.service_pin()  # a deployment never initialised is told so here, not by workers failing in a loop
    _fresh_metrics_folder(settings)
    _spawn_without_main()
    # uvicorn's own access log stays off: the one in govsign.http.observation (GOVSIGN_ACCESS_LOG=1) names
    # the route and the request id. X-Forwarded-For (which sets the client address that rate limits and the
    # audit log see) is believed only from the configured proxies: uvicorn would believe it from 127.0.0.1.
    proxies = settings.trusted_proxy_list
    uvicorn.run(
        "govsign.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=uvicorn_log_config(settings.log_format, access_log=settings.access_log),
        access_log=False,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies,
    )


def serve_command() -> None:
    """``govsign serve`` alone (:mod:`govsign.cli.entry`): its options parsed, a wrong setting told in one
    line with the configuration exit code, as the full CLI does."""
    command = typer.Typer(add_completion=False)
    command.command(name="serve")(serve)
    try:
        command(args=sys.argv[2:], prog_name="govsign serve")
    except ConfigurationError as error:
        err.print(f"error: {error}", markup=False)
        sys.exit(6)


def _fresh_metrics_folder(settings: Settings) -> None:
    """An empty PROMETHEUS_MULTIPROC_DIR for this run's workers (a previous run's files would be summed
    into this one's counters); set before any worker imports prometheus-client."""
    folder = settings.home / METRICS_FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def _spawn_without_main() -> None:
    """Spare spawned workers the re-import of the console script, which imports the whole CLI (module
    docstring): a main module known as ``govsign.__main__`` is one multiprocessing does not re-run."""
    main = sys.modules["__main__"]
    if getattr(main, "__spec__", None) is None:
        main.__spec__ = importlib.util.find_spec("govsign.__main__")
