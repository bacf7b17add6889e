"""``--cluster`` specs and connecting to Dask: ``local:N`` (a `LocalCluster` of N worker
processes, one thread each, no dashboard, its logs silenced below CRITICAL), ``tcp://HOST:PORT``
(a running scheduler) or ``FILE.json`` (a scheduler file). Dask is imported only here, only when
``--cluster`` is given; without the ``fetchall[dask]`` extra it is a one-line usage error."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fetchall.errors import UsageError

if TYPE_CHECKING:
    from distributed import Client

MAX_LOCAL_WORKERS = 256


@dataclass(frozen=True)
class ClusterSpec:
    """Where to run: ``local`` workers, or a scheduler ``address`` or ``scheduler_file``."""

    local: int = 0
    address: str | None = None
    scheduler_file: Path | None = None

    def __str__(self) -> str:
        if self.local:
            return f"local:{self.local}"
        return self.address or str(self.scheduler_file)


def parse_cluster(text: str) -> ClusterSpec:
    """``local:N``, ``tcp://HOST:PORT`` or a ``.json`` scheduler file; `UsageError` otherwise."""
    text = text.strip()
    if match := re.fullmatch(r"local:(\d{1,4})", text):
        workers = int(match[1])
        if not 1 <= workers <= MAX_LOCAL_WORKERS:
            raise UsageError(f"--cluster local:N needs N from 1 to {MAX_LOCAL_WORKERS}")
        return ClusterSpec(local=workers)
    if re.fullmatch(r"tcp://[^\s/]+:\d{1,5}", text):
        return ClusterSpec(address=text)
    if text.endswith(".json"):
        return ClusterSpec(scheduler_file=Path(text))
    raise UsageError(
        f"--cluster must be local:N, tcp://HOST:PORT or a scheduler file (.json), got {text!r}"
    )


@contextlib.contextmanager
def connected(spec: ClusterSpec, timeout: float, retries: int = 2) -> Iterator[tuple[Client, int]]:
    """A Dask client for ``spec`` and its number of workers (at least 1); `UsageError` if
    Dask is missing, or the scheduler cannot be reached or has no worker within ``timeout``
    seconds (shards would wait for one forever, with no message). A local
    cluster's scheduler lets a task's worker die ``retries`` times before it gives up (another
    scheduler has its own ``distributed.scheduler.allowed-failures``)."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--cluster needs Dask: pip install 'fetchall[dask]'") from None
    cluster = None
    try:
        with dask.config.set({"distributed.scheduler.allowed-failures": retries}):
            if spec.local:
                # CRITICAL: its processes share our stderr, and their shutdown races log
                # errors with tracebacks (a worker's heartbeat to a scheduler that just
                # closed); what went wrong for a URL is in its row.
                cluster = LocalCluster(
                    n_workers=spec.local, threads_per_worker=1, processes=True,
                    dashboard_address=None, host="127.0.0.1", silence_logs=logging.CRITICAL,
                )  # fmt: skip
                client = Client(cluster, timeout=timeout)
            elif spec.address is not None:
                client = Client(spec.address, timeout=timeout)
            else:
                assert spec.scheduler_file is not None
                if not spec.scheduler_file.is_file():
                    raise UsageError(f"--cluster: no scheduler file {spec.scheduler_file}")
                client = Client(scheduler_file=str(spec.scheduler_file), timeout=timeout)
    except UsageError:
        raise
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise UsageError(f"--cluster {spec}: cannot reach the scheduler: {exc}") from None
    except Exception as exc:  # a scheduler file that is not one, ...: one line, not a traceback
        if cluster is not None:
            cluster.close()
        if spec.scheduler_file is not None:
            raise UsageError(f"--cluster {spec}: not a Dask scheduler file") from None
        raise UsageError(f"--cluster {spec}: {type(exc).__name__}: {exc}") from None
    with _quiet_distributed_logs():
        try:
            _wait_for_a_worker(client, spec, timeout)
            workers = len(client.scheduler_info(n_workers=-1).get("workers", {})) or 1
            yield client, workers
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


@contextlib.contextmanager
def _quiet_distributed_logs() -> Iterator[None]:
    """distributed's log handlers in this process at CRITICAL while the run uses the cluster.
    A client that lost its scheduler logs its failed reconnect as an error; the run says so
    in one line of its own (cluster/driver.py)."""
    with contextlib.ExitStack() as restore:
        for handler in logging.getLogger("distributed").handlers:
            restore.callback(handler.setLevel, handler.level)
            handler.setLevel(logging.CRITICAL)
        yield


def _wait_for_a_worker(client: Client, spec: ClusterSpec, timeout: float) -> None:
    """Wait up to ``timeout`` seconds for a worker; `UsageError` if none joins."""
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:  # distributed's WorkerStartTimeoutError is one
        raise UsageError(
            f"--cluster {spec}: no worker joined the scheduler within {timeout:g}s "
            "(--connect-timeout)"
        ) from None
