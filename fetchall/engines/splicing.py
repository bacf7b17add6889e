"""Large bodies without copies, for the ``keepalive`` engine: socket → pipe → file with
`os.splice` (Linux).

Strategy: once the rest of a plain body framed by Content-Length is large (`SPLICE_AT`), the
connection stops its transport reading and the bytes go from the socket to the temporary file
inside the kernel, through the run's one pipe: `Pipe.move` splices what has arrived from the
socket into the pipe (never blocking) and at once from the pipe into the file, so the pipe is
empty between calls and one pipe serves every connection of the run. Python never sees those
bytes: no read buffer, no copy into user space and back, no allocation per read. Only the bytes
the body still needs are taken from the socket, so whatever follows the response (a pipelined
response) stays there for the transport. Everything else — heads, chunked or encoded bodies,
TLS, small bodies, a ``--sha256`` digest, a truncated body — takes the usual path through
`Exchange.feed`. ``FETCHALL_NO_SPLICE=1`` turns splicing off (the read-buffer path then does
all the work, as on systems without `os.splice`).
"""

from __future__ import annotations

import fcntl
import os

from fetchall.errors import OutputError, reason

SPLICE_AT = 256 * 1024
"""A body is spliced only when at least this much of it is still to come (a read's worth:
smaller ones cost less through the read buffer)."""
PIPE_SIZE = 1024 * 1024
"""The pipe's capacity asked for (the kernel's default limit for unprivileged processes); at
most this much moves per splice."""
_FROM_SOCKET = getattr(os, "SPLICE_F_MOVE", 0) | getattr(os, "SPLICE_F_NONBLOCK", 0)


def available() -> bool:
    """Whether bodies may be spliced here: `os.splice` exists (Linux, Python 3.10+) and
    ``FETCHALL_NO_SPLICE`` is not set."""
    return hasattr(os, "splice") and not os.environ.get("FETCHALL_NO_SPLICE")


class Pipe:
    """The run's pipe between sockets and files (see module docstring); empty between calls."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        self.size = _widen(self._write)

    def move(self, sock: int, file: int, limit: int) -> int:
        """Move up to ``limit`` bytes that have arrived on ``sock`` to the end of ``file``: how
        many (0: the peer closed). Raises `BlockingIOError` if none has arrived, the socket's
        own `OSError` (a reset...), or `OutputError` if the file cannot take them (the pipe is
        then replaced: bytes may be left in it)."""
        count = os.splice(sock, self._write, min(limit, self.size), flags=_FROM_SOCKET)
        left = count
        try:
            while left:
                done = os.splice(self._read, file, left)
                if not done:
                    raise OSError(0, "no progress writing the file")
                left -= done
        except OSError as exc:
            self.close()
            self._read, self._write = os.pipe()
            self.size = _widen(self._write)
            raise OutputError(f"cannot write the body to disk: {reason(exc)}") from None
        return count

    def close(self) -> None:
        """Close both ends (idempotent)."""
        for fd in (self._read, self._write):
            if fd >= 0:
                os.close(fd)
        self._read = self._write = -1


def _widen(fd: int) -> int:
    """Ask for a `PIPE_SIZE` pipe; its capacity as granted."""
    try:
        return fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:  # above the system's limit: the default (64 KiB) will do
        return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
