"""A private nginx on 127.0.0.1 serving generated benchmark file sets.

Everything lives under one temporary directory: nginx's config, pid file, error log and temp
paths, the document root with the generated files, and the URL lists. nginx runs in the
foreground (``daemon off``) as a child in its own process group, so it is always stopped: by the
context manager's ``finally``, or by SIGTERM/SIGINT turned into an exception.

File sets (random bytes, so no client can profit from compression):

- ``small``: ``--small-count`` files of 1 KiB (default 10,000) under ``/small/``
- ``large``: ``--large-count`` files of 1 MiB (default 200) under ``/large/``

For every URL list three formats are written into ``WORK/lists/``: ``NAME.txt`` (one URL per
line: fetchall, wget2 ``-i``, the naive aiohttp script), ``NAME.curl`` (curl ``-K`` config:
``url = "..."`` lines) and ``NAME.aria2`` (aria2c ``-i``: one URL per line).

Used as a module by compare.py; run alone it serves until Ctrl-C::

    python benchmarks/nginx.py --small-count 10000 --large-count 200
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

KIB = 1024
MIB = 1024 * 1024
HOST = "127.0.0.1"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
FIXED_BODY_SIZE = 100
"""Every ``/bytes/ANYTHING`` URL answers 200 with this many bytes (no file behind it)."""

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;  # floor.py does not reconnect (the default is 1000)
    default_type application/octet-stream;
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;

    server {{
        listen {host}:{port} backlog=4096;
        root {root};
        location / {{
        }}
        location /bytes/ {{
            return 200 "{fixed_body}";
        }}
    }}
}}
"""


@dataclass(frozen=True, slots=True)
class FileSet:
    """One generated set of equally sized files and its URL lists."""

    name: str
    count: int
    size: int
    urls: tuple[str, ...]

    @property
    def total_bytes(self) -> int:
        """Bytes a complete download of this set saves."""
        return self.count * self.size


@dataclass(slots=True)
class Server:
    """A running private nginx: where it listens and where its files and lists are."""

    work: Path
    port: int
    process: subprocess.Popen[bytes]
    sets: dict[str, FileSet] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{HOST}:{self.port}"

    def list_path(self, name: str, fmt: str) -> Path:
        """Path of URL list ``name`` in format ``fmt`` (``txt``, ``curl`` or ``aria2``)."""
        return self.work / "lists" / f"{name}.{fmt}"

    def write_lists(self, name: str, urls: Sequence[str]) -> None:
        """Write ``urls`` as ``name``.txt, .curl and .aria2 into the lists directory."""
        lists = self.work / "lists"
        lists.mkdir(exist_ok=True)
        plain = "".join(f"{url}\n" for url in urls)
        (lists / f"{name}.txt").write_text(plain)
        (lists / f"{name}.aria2").write_text(plain)
        (lists / f"{name}.curl").write_text("".join(f'url = "{url}"\n' for url in urls))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def generate_files(root: Path, name: str, count: int, size: int) -> tuple[str, ...]:
    """Write ``count`` random files of ``size`` bytes under ``root/name``; return URL paths."""
    directory = root / name
    directory.mkdir(parents=True)
    width = max(5, len(str(count - 1)))
    paths = []
    for index in range(count):
        filename = f"{index:0{width}d}.bin"
        with open(directory / filename, "wb") as handle:
            handle.write(os.urandom(size))
        paths.append(f"/{name}/{filename}")
    return tuple(paths)


def make_tree(work: Path) -> None:
    """Create nginx's directories; readable by nginx's unprivileged worker."""
    for sub in ("root", "lists", "tmp"):
        (work / sub).mkdir(exist_ok=True)
    work.chmod(0o755)
    (work / "root").chmod(0o755)
    (work / "lists").chmod(0o755)
    # The worker (user nobody when the master runs as root) writes temp files only for request
    # bodies, which GETs never have; still give it a directory it may write to.
    (work / "tmp").chmod(0o777)


def nginx_binary() -> str:
    """Path of the nginx executable (it lives in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise SystemExit("nginx not found: run `bash benchmarks/setup.sh` first")
    return found


def wait_ready(port: int, probe_path: str, process: subprocess.Popen[bytes]) -> None:
    """Block until nginx answers ``probe_path`` with 200, or raise after START_TIMEOUT."""
    deadline = time.monotonic() + START_TIMEOUT
    request = f"GET {probe_path} HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode()
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited at start-up with status {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=1.0) as sock:
                sock.sendall(request)
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not answer on {HOST}:{port} within {START_TIMEOUT} s")


def start_nginx(work: Path, probe_path: str) -> tuple[subprocess.Popen[bytes], int]:
    """Write the config and start nginx in the foreground; return the process and its port."""
    port = free_port()
    conf = work / "nginx.conf"
    text = NGINX_CONF.format(
        work=work, host=HOST, port=port, root=work / "root", fixed_body="x" * FIXED_BODY_SIZE
    )
    conf.write_text(text)
    log = open(work / "nginx.stderr", "wb")  # noqa: SIM115 - kept open for the child
    command = [nginx_binary(), "-p", str(work), "-e", str(work / "error.log"), "-c", str(conf)]
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
    )
    log.close()
    try:
        wait_ready(port, probe_path, process)
    except BaseException:
        stop_nginx(process)
        raise
    return process, port


def stop_nginx(process: subprocess.Popen[bytes]) -> None:
    """Stop nginx (fast shutdown), killing its whole process group if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)
    with contextlib.suppress(ProcessLookupError):  # a worker that outlived its master
        os.killpg(process.pid, signal.SIGKILL)


def raise_on_signal(signum: int, _frame: object) -> None:
    """Turn SIGTERM into SystemExit so that ``finally`` blocks stop nginx."""
    raise SystemExit(128 + signum)


@contextmanager
def serving(small_count: int, large_count: int, base_dir: str | None = None) -> Iterator[Server]:
    """Generate the file sets, start nginx, yield the Server; stop nginx and clean up after."""
    previous = signal.signal(signal.SIGTERM, raise_on_signal)
    work = Path(tempfile.mkdtemp(prefix="fetchall-nginx-", dir=base_dir))
    process: subprocess.Popen[bytes] | None = None
    try:
        make_tree(work)
        specs = (("small", small_count, KIB), ("large", large_count, MIB))
        paths = {
            name: generate_files(work / "root", name, count, size)
            for name, count, size in specs
            if count > 0
        }
        probe = next(iter(paths.values()))[0] if paths else f"/bytes/{FIXED_BODY_SIZE}"
        process, port = start_nginx(work, probe)
        server = Server(work=work, port=port, process=process)
        for name, count, size in specs:
            if count > 0:
                urls = tuple(server.base_url + path for path in paths[name])
                server.sets[name] = FileSet(name, count, size, urls)
                server.write_lists(name, urls)
        yield server
    finally:
        if process is not None:
            stop_nginx(process)
        shutil.rmtree(work, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Command-line options for running the server alone."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-count", type=int, default=10_000, help="1 KiB files")
    parser.add_argument("--large-count", type=int, default=200, help="1 MiB files")
    parser.add_argument("--base-dir", default=None, help="where to create the temp directory")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until Ctrl-C or SIGTERM, printing where the URL lists are."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        with serving(args.small_count, args.large_count, args.base_dir) as server:
            print(f"nginx (pid {server.process.pid}) serving {server.base_url}", flush=True)
            for name, fileset in server.sets.items():
                print(f"  {name}: {fileset.count} files; lists: {server.list_path(name, '*')}")
            print("Ctrl-C to stop", flush=True)
            while server.process.poll() is None:
                time.sleep(0.5)
            print(f"nginx exited with status {server.process.returncode}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
