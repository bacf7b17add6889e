"""The ``fetchall`` command line (typer). Parses options, shows progress and the summary; the work
is done by `fetchall.api.fetch_all`.

Strategy: ``fetchall FILE...`` means ``fetchall fetch FILE...`` (a first argument that is not a
command name gets ``fetch`` put before it). The command runs in non-standalone mode so every usage
error becomes one line on stderr and exit status 2; Ctrl-C and SIGTERM give 130. Start-up is kept
short: option values skip pydantic (`fetchall.cli_types`), and when the arguments name a command,
only that command's click object is built (``fetchall``, ``--help`` and completion get them all).
"""

from __future__ import annotations

import copy
import logging
import math
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated, NoReturn

import typer
from typer._click import Command

from fetchall import __version__, cli_types
from fetchall.errors import UsageError

cli_types.install()  # plain option values without pydantic (about 0.1 s of CPU per run)

app = typer.Typer(
    name="fetchall",
    help="Download every URL of URL-list files concurrently, through an engine of your choice.",
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, pwsh)
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

COMMANDS = ("fetch", "crawl", "engines", "serve", "demo", "bench", "status")
TOP_LEVEL_OPTIONS = ("--help", "-h", "--install-completion", "--show-completion")
"""Arguments that belong to ``fetchall`` itself; anything else not a command means ``fetch``."""
EXIT_INTERRUPTED = 130


def _engine_names(incomplete: str) -> list[str]:
    """Shell completion of ``--engine``: the registered engines starting with ``incomplete``."""
    from fetchall.engines import ENGINES

    return [name for name in sorted(ENGINES) if name.startswith(incomplete)]


@app.command()
def fetch(
    url_files: Annotated[
        list[str], typer.Argument(help="URL-list files ('-' = stdin).", show_default=False)
    ],
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            "-e",
            help="I/O engine (see `fetchall engines`).",
            autocompletion=_engine_names,
        ),
    ] = "aiohttp",
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("downloads"),
    report: Annotated[
        Path | None, typer.Option(help="JSONL report path [default: OUT/report.jsonl].")
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", help="Requests in flight at most.")
    ] = 50,
    per_host: Annotated[int, typer.Option(help="Requests in flight per host at most.")] = 8,
    pipeline: Annotated[
        int,
        typer.Option(
            help="HTTP/1.1 pipelining (keepalive engine): requests in flight per connection."
        ),
    ] = 1,
    timeout: Annotated[
        float, typer.Option(help="Seconds for one whole attempt (connect+send+body).")
    ] = 300.0,
    connect_timeout: Annotated[float, typer.Option(help="Seconds to connect (incl. TLS).")] = 10.0,
    retries: Annotated[int, typer.Option(help="Retries after the first attempt.")] = 2,
    retry_backoff: Annotated[
        float, typer.Option(help="First retry delay in seconds (doubles, jittered).")
    ] = 0.5,
    retry_after_cap: Annotated[
        float,
        typer.Option(help="Longest Retry-After obeyed (s); a longer one fails the host's URLs."),
    ] = 60.0,
    max_redirects: Annotated[int, typer.Option(help="Redirects to follow at most.")] = 10,
    max_size: Annotated[
        str | None, typer.Option(help="Largest decoded body, e.g. 10M, 1.5G.")
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", help="Extra header 'Name: value' (repeatable)."),
    ] = None,
    user_agent: Annotated[str | None, typer.Option(help="User-Agent header.")] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", "-k", help="Do not verify TLS certificates.")
    ] = False,
    cacert: Annotated[Path | None, typer.Option(help="Trust this CA bundle (PEM).")] = None,
    rate: Annotated[
        str | None,
        typer.Option(help="Request starts per host at most: 2, 0.5, 2/s, 30/m, 1/5s."),
    ] = None,
    robots: Annotated[
        bool, typer.Option("--robots/--no-robots", help="Obey robots.txt (with Crawl-delay).")
    ] = False,
    callbacks: Annotated[
        Path | None, typer.Option(help="Python file with @on_host callbacks.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the unfinished run of OUT (its state).")
    ] = False,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start over, forgetting an unfinished run of OUT.")
    ] = False,
    refresh: Annotated[
        bool,
        typer.Option("--refresh", help="Fetch done URLs again, conditionally (ETag, date)."),
    ] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Fetch the URLs that failed again.")
    ] = False,
    state: Annotated[
        Path | None, typer.Option(help="State store [default: OUT/.fetchall/state.db].")
    ] = None,
    no_state: Annotated[
        bool, typer.Option("--no-state", help="Keep no state (nothing can be resumed).")
    ] = False,
    sha256: Annotated[
        bool,
        typer.Option("--sha256", help="Keep each saved body's SHA-256 in the state store."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress and no summary.")
    ] = False,
    no_progress: Annotated[
        bool, typer.Option("--no-progress", help="No progress display.")
    ] = False,
    cluster: Annotated[
        str | None,
        typer.Option(help="Run on Dask: local:N, tcp://HOST:PORT or a scheduler .json file."),
    ] = None,
    shard_size: Annotated[
        int, typer.Option(help="--cluster: URLs per shard at most (a shard = whole hosts).")
    ] = 1000,
    shard_retries: Annotated[
        int, typer.Option(help="--cluster: runs again of a shard whose worker died.")
    ] = 2,
) -> None:
    """Fetch every URL in the URL-list files (the default command)."""
    from fetchall.cli_run import run_command

    params = dict(locals())
    raise typer.Exit(run_command(params, url_files=params.pop("url_files")))


@app.command()
def engines() -> None:
    """List the engines and what each supports."""
    from rich.console import Console
    from rich.table import Table

    from fetchall.engines import ENGINES

    table = Table("engine", "I/O model", "HTTP", "concurrent", "seed step")
    for info in ENGINES.values():
        concurrent = "yes" if info.concurrent else "no"
        table.add_row(info.name, info.io_model, info.http, concurrent, info.seed_step)
    Console().print(table)
    Console().print(
        "Every engine supports: http/https (verified TLS), IPv4/IPv6, global and per-host "
        "limits, --rate, host cooldowns (429/503), robots.txt, timeouts, retries, redirects, "
        "gzip/deflate/br, --max-size, streaming to disk, callbacks, the JSONL report."
    )


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 = any free port).")] = 8765,
    latency: Annotated[float, typer.Option(help="Seconds added to every response.")] = 0.0,
    jitter: Annotated[float, typer.Option(help="Random ± seconds added to the latency.")] = 0.0,
    site: Annotated[
        bool, typer.Option("--site", help="Serve the two-host demo site for crawls instead.")
    ] = False,
) -> None:
    """Run the built-in test server (deterministic bodies, statuses, redirects, gzip, chunked),
    or (``--site``) the two-host demo website for crawls, on free ports."""
    from fetchall.server import serve_forever
    from fetchall.server.thread import serve_site_forever

    _check_seconds("latency", latency)
    _check_seconds("jitter", jitter)
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be 0..65535, got {port}")
    if site:
        serve_site_forever()
    else:
        serve_forever(host, port, latency, jitter)  # returns only when interrupted
    raise typer.Exit(EXIT_INTERRUPTED)


@app.command()
def demo(
    kind: Annotated[
        str, typer.Argument(help="fetch (the demo list) or crawl (the two-host demo site).")
    ] = "fetch",
    url_list: Annotated[
        Path, typer.Option("--list", help="Template URL list ({server} = server address).")
    ] = Path("urls/demo.txt"),
    engine: Annotated[
        str,
        typer.Option("--engine", "-e", help="I/O engine.", autocompletion=_engine_names),
    ] = "aiohttp",
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("downloads"),
    latency: Annotated[
        float, typer.Option(help="Seconds the server adds to each response.")
    ] = 0.05,
) -> None:
    """Start the built-in server on a free port and fetch the demo list from it (or crawl the
    built-in demo site: ``fetchall demo crawl``)."""
    from fetchall.demo import demo_crawl, demo_fetch

    _check_seconds("latency", latency)
    if kind not in ("fetch", "crawl"):
        raise UsageError(f"demo: say fetch or crawl, not {kind!r}")
    if kind == "crawl":
        raise typer.Exit(demo_crawl(engine, out))
    raise typer.Exit(demo_fetch(url_list, engine, out, latency))


@app.command()
def bench(
    url_files: Annotated[
        list[Path] | None,
        typer.Argument(help="URL-list files [default: a generated list on the built-in server]."),
    ] = None,
    engines: Annotated[
        str | None,
        typer.Option("--engines", "-e", help="'all' or a comma-separated list [default: all]."),
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help="seed (the seed experiment) or latency (1,000 URLs).")
    ] = None,
    count: Annotated[int | None, typer.Option(help="Generated URLs [default: 100].")] = None,
    latency: Annotated[
        float | None, typer.Option(help="Server seconds per response [default: 0.1].")
    ] = None,
    jitter: Annotated[
        float | None, typer.Option(help="Random ± seconds on the latency [default: 0].")
    ] = None,
    size: Annotated[
        str | None, typer.Option(help="Bytes per response, e.g. 1k, 1M [default: 1k].")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", help="-c of every engine [default: 50].")
    ] = None,
    per_host: Annotated[
        int | None, typer.Option(help="--per-host of every engine [default: its concurrency].")
    ] = None,
    repeat: Annotated[
        int | None, typer.Option(help="Rounds (interleaved); medians reported [default: 1].")
    ] = None,
    run_timeout: Annotated[
        float | None, typer.Option(help="Seconds before a run is killed [default: 600].")
    ] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write the results as JSON here.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write a PNG bar chart here (needs fetchall[plot]).")
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Directory for the runs' files [default: system temp].")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    cluster: Annotated[
        str | None,
        typer.Option(help="Also run each engine with --cluster this (local:N...), side by side."),
    ] = None,
) -> None:
    """Compare engines: run each on the same URLs in a fresh process, measure, tabulate."""
    from rich.console import Console

    from fetchall.bench import build_config, run_bench
    from fetchall.bench.plot import require_matplotlib, write_plot
    from fetchall.bench.progress import BenchProgress
    from fetchall.bench.report import machine_line, render_table, workload_line, write_json
    from fetchall.options import parse_size

    config = build_config(
        preset, engines=engines, url_files=url_files or None, count=count, latency=latency,
        jitter=jitter, size=parse_size(size) if size is not None else None,
        concurrency=concurrency, per_host=per_host, repeat=repeat, run_timeout=run_timeout,
        workdir=workdir, cluster=cluster,
    ).validated()  # fmt: skip
    for name, target in (("json", json_file), ("plot", plot)):
        if target is not None and not target.parent.is_dir():
            raise UsageError(f"--{name}: no such directory: {target.parent}")
    if plot is not None:
        require_matplotlib()  # before any run starts
    with BenchProgress(enabled=not quiet) as progress:
        report = run_bench(config, progress)
    console = Console(width=None if sys.stdout.isatty() else 200, highlight=False)
    console.print(render_table(report))
    console.print(workload_line(report), markup=False, soft_wrap=True)
    console.print(machine_line(report), markup=False, soft_wrap=True)
    if json_file is not None:
        write_json(report, json_file)
    if plot is not None:
        write_plot(report, plot)
    raise typer.Exit(0 if report.all_ok else 1)


@app.command()
def status(
    out: Annotated[
        Path, typer.Argument(help="The output directory of the run.", show_default=True)
    ] = Path("downloads"),
    state: Annotated[
        Path | None, typer.Option(help="The state store [default: OUT/.fetchall/state.db].")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Show a run's state: URLs per state and error, rate, time left, top hosts."""
    import json

    from fetchall.state.status import read_status, render

    path = state if state is not None else out / ".fetchall" / "state.db"
    reading = read_status(path)
    if json_output:
        print(json.dumps(reading.as_json()))
    else:
        print("\n".join(render(reading)))


def _check_seconds(name: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"--{name} must be a finite number >= 0, got {value}")


IN_PROGRAM = False
"""Whether the commands run in the ``fetchall`` program's own process (set by `main`; not when
they are invoked in a test's or an embedding program's process)."""


def main(argv: list[str] | None = None) -> NoReturn:
    """Console-script entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("--version", "-V"):
        from fetchall.build import running_build

        print(f"fetchall {__version__} ({running_build()})")
        sys.exit(0)
    if args and args[0] not in COMMANDS and args[0] not in TOP_LEVEL_OPTIONS:
        args.insert(0, "fetch")
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    _log_warnings_to_stderr()
    global IN_PROGRAM
    IN_PROGRAM = True  # this process is the program's own (see cli_run)
    command = _click_command(args[0] if args else None)
    try:
        code = command.main(args, prog_name="fetchall", standalone_mode=False)
    except UsageError as exc:
        _fail(str(exc), 2)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.TyperException as exc:  # click's usage errors (typer vendors click)
        _fail(exc.format_message(), exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        _fail("interrupted", EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)


def _click_command(name: str | None) -> Command:
    """The click group to run ``name`` with: the whole app (what `typer.main.get_command`
    builds), or, for a command ``name``, a group of that command alone (with the same group
    options), which costs about a third: the other commands' parameters are not built. Shell
    completion reads its words from the environment, not ``argv``: it always gets the whole app.
    """
    if name not in COMMANDS or "_FETCHALL_COMPLETE" in os.environ:
        return typer.main.get_command(app)
    alone = copy.copy(app)
    alone.registered_commands = [
        info
        for info in app.registered_commands
        if info.callback is not None
        and (info.name or typer.main.get_command_name(info.callback.__name__)) == name
    ]
    group = typer.main.get_group(alone)
    group.params.extend(typer.main.get_install_completion_arguments())  # as get_command does
    return group


def _log_warnings_to_stderr() -> None:
    """Library warnings (the ``fetchall`` logger) appear as one ``fetchall: warning:`` line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("fetchall: warning: %(message)s"))
    logger = logging.getLogger("fetchall")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False


def _fail(message: str, code: int) -> NoReturn:
    print(f"fetchall: error: {message}", file=sys.stderr)
    sys.exit(code)


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM behaves like Ctrl-C: in-flight work stops cleanly, the report is flushed.

    It calls whatever handles Ctrl-C right now (asyncio's runner cancels its main task), or
    raises `KeyboardInterrupt` when nothing does: a process started in the background by a
    shell without job control inherits an *ignored* SIGINT, and re-raising SIGINT there would
    make SIGTERM a no-op too."""
    handler = signal.getsignal(signal.SIGINT)
    if not callable(handler):  # SIG_IGN or SIG_DFL
        raise KeyboardInterrupt
    handler(signal.SIGINT, frame)


from fetchall import cli_crawl  # noqa: E402, F401  (registers ``fetchall crawl`` on `app`)
