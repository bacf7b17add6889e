"""Incremental HTTP/1.x response parser: bytes in, events out (h11 style, no I/O).

Strategy: a small state machine driven by `ResponseParser.feed`. Line-oriented parts (status line
plus header fields, chunk-size lines, trailer fields) are accumulated in one bytearray that can
never grow past its limit, and the search for the terminating blank line resumes where the
previous one stopped, so feeding one byte at a time stays linear. The status line is checked as
soon as its first bytes arrive, so a response without one (HTTP/0.9, HTTP/2, garbage) fails at
once. Body bytes are never buffered: they are sliced straight out of the fed data, and all body
bytes found in one `feed` call are returned as a single `Data` event. Framing follows RFC 9112 §6.3
(1xx skipped, HEAD/204/304 bodiless, chunked wins over a strict Content-Length, else until EOF).
Bytes after the end of the response — in the same `feed` or later — are never parsed (RFC 9112
§6.3: a client may discard them and must not read them as another response): they are counted
in ``trailing_bytes``, and callers never reuse that connection — except a pipelining client,
which hands the bytes that followed the end in the same `feed` (`take_trailing`) to the parser
of the next response it asked for. Every engine frames
with this parser, the ``aiohttp`` engine included (`fetchall.engines.aiohttp_framing`), so the
same bytes give the same verdict everywhere. EOF before any byte is `ConnectionLostError`; EOF
inside the head, the body or the chunked framing is a `ProtocolError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias, cast

from fetchall.errors import ConnectionLostError, ProtocolError
from fetchall.http.fields import parse_fields, parse_section, short
from fetchall.http.headers import Headers
from fetchall.pickling import rebuild_args

MAX_INTERIM = 16
"""At most this many interim (1xx) responses may precede the final one."""
MAX_CHUNK_LINE = 4096
"""Longest accepted chunk-size line (size plus extensions), in bytes."""


# Events are not frozen: a frozen dataclass sets each field through object.__setattr__, a
# measurable part of a small response; nothing changes an event after the parser made it.
@dataclass(slots=True)
class Head:
    """The final response head. ``http_version`` is ``"HTTP/1.0"`` or ``"HTTP/1.1"``."""

    status: int
    reason: str
    http_version: str
    headers: Headers


@dataclass(slots=True)
class Data:
    """A piece of (still content-encoded) body, in arrival order: a memoryview only when `feed`
    was given one (then valid until `feed` returns), else bytes."""

    data: bytes | memoryview


@dataclass(frozen=True, slots=True)
class End:
    """The response is complete."""

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        """Pickle through ``__init__``, in the compiled build too (fetchall/pickling.py)."""
        return rebuild_args(self)


_END = End()  # one for all: it holds nothing
Event: TypeAlias = Head | Data | End
"""What `ResponseParser.feed` returns: one `Head`, then `Data` pieces, then `End`."""

_STATUS_LINE = re.compile(rb"(HTTP/1\.[01]) ([1-5][0-9][0-9])(?: ([^\r\x00]*))?")
_STATUS_PREFIXES = (b"HTTP/1.0 ", b"HTTP/1.1 ")
_BLOCK_END = re.compile(rb"\n\r?\n")
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_CHUNK_EXT_VALUE = rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?"
_CHUNK_EXT = rb"[ \t]*;[ \t]*" + _TOKEN + _CHUNK_EXT_VALUE
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:" + _CHUNK_EXT + rb")*")
"""RFC 9112 §7.1.1: chunk-size *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] ):
no whitespace after the size without an extension, no ";" without a name (llhttp agrees)."""
_DIGITS = re.compile(r"[0-9]{1,18}")

# Parser states.
_HEAD, _LENGTH, _UNTIL_EOF, _CHUNK_SIZE_LINE, _CHUNK_DATA, _CHUNK_END, _TRAILERS = range(7)
_DONE, _FAILED = 7, 8


def _content_length(values: list[str]) -> int:
    """The strict value of one or more Content-Length fields (RFC 9110 §8.6)."""
    length = -1
    for value in values:
        for part in value.split(","):
            item = part.strip(" \t")
            if not _DIGITS.fullmatch(item):
                raise ProtocolError(f"bad Content-Length: {value[:40]!r}")
            n = int(item)
            if length >= 0 and n != length:
                raise ProtocolError(
                    f"conflicting Content-Length values: {', '.join(values)[:60]!r}"
                )
            length = n
    return length


def _status_line(line: bytes | bytearray) -> tuple[str, int, str]:
    if line[-1:] == b"\r":
        line = line[:-1]
    m = _STATUS_LINE.fullmatch(line)
    if m is None:
        raise ProtocolError(f"bad status line: {short(line)}")
    reason = m.group(3)
    return m.group(1).decode("ascii"), int(m.group(2)), reason.decode("latin-1") if reason else ""


class ResponseParser:
    """Parse one HTTP/1.x response incrementally (see module docstring).

    Call `feed` with bytes as they arrive and ``feed(b"")`` at EOF; it returns the new events and
    raises `ProtocolError` (or `ConnectionLostError` for EOF before any byte) on bad input. After
    `End`, further bytes are ignored and counted in ``trailing_bytes``.
    """

    __slots__ = (
        "_buf",
        "_expected",
        "_interim",
        "_line_checked",
        "_max_head",
        "_max_headers",
        "_no_body",
        "_received",
        "_remaining",
        "_saw_cr",
        "_scan",
        "_state",
        "_status",
        "_trailing",
        "framing",
        "trailing_bytes",
    )

    def __init__(
        self, *, method: str = "GET", max_head_bytes: int = 65536, max_headers: int = 256
    ) -> None:
        self._no_body = method.upper() == "HEAD"
        self._max_head = max_head_bytes
        self._max_headers = max_headers
        self._state = _HEAD
        self._buf = bytearray()  # the pending head / trailer section / chunk-size line
        self._scan = 0  # where the next search for a blank line starts in _buf
        self._line_checked = False  # whether the current head's status line was validated
        self._status: tuple[str, int, str] = ("", 0, "")
        self._interim = 0
        self._remaining = 0  # bytes left in the Content-Length body or the current chunk
        self._expected = 0  # the Content-Length
        self._received = False
        self._saw_cr = False  # a chunk's data was followed by CR; LF must come next
        self.trailing_bytes = 0
        """Bytes received after the end of the response (ignored)."""
        self._trailing = b""
        self.framing = ""
        """How the body is delimited, set with the final `Head`: ``"none"`` (HEAD, 204, 304),
        ``"length"`` (``content_length`` bytes), ``"chunked"`` or ``"eof"`` (until close)."""

    @property
    def content_length(self) -> int:
        """The body length when ``framing == "length"`` (else 0)."""
        return self._expected

    @property
    def body_left(self) -> int:
        """Bytes of a Content-Length body still to come (0 in any other state)."""
        return self._remaining if self._state == _LENGTH else 0

    def skip_body(self, count: int) -> bool:
        """``count`` bytes of a Content-Length body went elsewhere without `feed` (the
        ``keepalive`` engine splices them to the file): True once the body is complete (no
        `End` event then: the caller knows). At most `body_left` bytes."""
        if self._state != _LENGTH or not 0 <= count <= self._remaining:
            raise ValueError(f"cannot skip {count} body bytes here")
        self._remaining -= count
        if not self._remaining:
            self._state = _DONE
        return not self._remaining

    @property
    def in_plain_body(self) -> bool:
        """Whether the next bytes are body framed by Content-Length or EOF: `feed` then only
        slices them (a memoryview stays a view; nothing is kept past the call)."""
        return self._state == _LENGTH or self._state == _UNTIL_EOF

    @property
    def done(self) -> bool:
        """Whether `End` has been emitted."""
        return self._state == _DONE

    def take_trailing(self) -> bytes:
        """The bytes that followed the end of the response in the `feed` call that completed
        it (b"" if none), for a pipelining caller; later calls return b""."""
        trailing, self._trailing = self._trailing, b""
        return trailing

    def feed(self, data: bytes | memoryview) -> list[Event]:
        """Parse ``data`` (``b""`` means EOF) and return the events it completes."""
        state = self._state
        if state == _DONE:
            self.trailing_bytes += len(data)
            return []
        if state == _FAILED:
            raise ProtocolError("response parser already failed")
        try:
            if not data:
                return self._eof()
            self._received = True
            # A memoryview only comes in a plain body (`in_plain_body`: the caller checks),
            # where it is only sliced; `Data` then holds a view valid until `feed` returns.
            return self._run(data)
        except (ProtocolError, ConnectionLostError):
            self._state = _FAILED
            raise

    def _run(self, data: bytes | memoryview) -> list[Event]:
        events: list[Event] = []
        body: list[bytes | memoryview] = []
        pos, n = 0, len(data)
        while pos < n:
            state = self._state
            if state in (_LENGTH, _CHUNK_DATA):
                take = min(self._remaining, n - pos)
                body.append(data if take == n else data[pos : pos + take])
                pos += take
                self._remaining -= take
                if not self._remaining:
                    self._state = _DONE if state == _LENGTH else _CHUNK_END
            elif state == _UNTIL_EOF:
                body.append(data[pos:] if pos else data)
                pos = n
            elif state == _HEAD:
                pos = self._head(cast(bytes, data), pos, events)
            elif state == _CHUNK_SIZE_LINE:
                pos = self._chunk_size(cast(bytes, data), pos)
            elif state == _CHUNK_END:
                pos = self._chunk_end(cast(bytes, data), pos)
            elif state == _TRAILERS:
                pos = self._trailers(cast(bytes, data), pos)
            else:  # _DONE
                self.trailing_bytes += n - pos
                self._trailing = bytes(data[pos:])  # kept: a copy, never a view
                break
        if body:
            events.append(Data(body[0] if len(body) == 1 else b"".join(body)))
        if self._state == _DONE:
            events.append(_END)
        return events

    def _eof(self) -> list[Event]:
        state = self._state
        if state == _UNTIL_EOF:
            self._state = _DONE
            return [_END]
        if state == _HEAD:
            if not self._received:
                raise ConnectionLostError("server closed the connection without sending a response")
            raise ProtocolError("incomplete response head")
        if state == _LENGTH:
            got = self._expected - self._remaining
            raise ProtocolError(
                f"body shorter than Content-Length: got {got} of {self._expected} bytes"
            )
        raise ProtocolError("incomplete chunked body")

    # -- head ---------------------------------------------------------------------------------

    def _block(self, data: bytes, pos: int) -> tuple[int, bytes | None]:
        """Accumulate a section ending in a blank line: (new pos, section or None if partial)."""
        buf = self._buf
        old = len(buf)
        buf += data[pos : pos + self._max_head - old]
        if not self._line_checked and self._state == _HEAD:
            self._check_status_line(old)
        m = _BLOCK_END.search(buf, self._scan)
        if m is None:
            if len(buf) >= self._max_head:
                what = "response head" if self._state == _HEAD else "trailer section"
                raise ProtocolError(f"{what} too large (more than {self._max_head} bytes)")
            self._scan = max(len(buf) - 2, 0)
            return len(data), None
        block = bytes(buf[: m.start()])
        end = m.end()
        buf.clear()
        self._scan = 0
        return pos + end - old, block

    def _check_status_line(self, old: int) -> None:
        buf = self._buf
        nl = buf.find(b"\n", old)
        if nl >= 0:
            self._status = _status_line(buf[:nl])
            self._line_checked = True
            return
        k = min(len(buf), 9)
        start = buf[:k]
        if start != _STATUS_PREFIXES[0][:k] and start != _STATUS_PREFIXES[1][:k]:
            raise ProtocolError(f"bad status line: {short(buf)}")

    def _split_lines(self, block: bytes, what: str) -> list[bytes]:
        lines = block.split(b"\n")
        if len(lines) - 1 > self._max_headers:
            raise ProtocolError(f"too many {what} (more than {self._max_headers})")
        return lines

    def _whole_head(self, data: bytes, pos: int) -> tuple[int, bytes | None]:
        """`_block` without copying, when nothing is pending and ``data`` holds the whole head."""
        m = _BLOCK_END.search(data, pos, pos + self._max_head)
        if m is None:
            return pos, None
        nl = data.find(b"\n", pos)
        self._status = _status_line(data[pos:nl])
        return m.end(), data[pos : m.start()]

    def _head(self, data: bytes, pos: int, events: list[Event]) -> int:
        block = None
        if not self._buf:
            pos, block = self._whole_head(data, pos)
        if block is None:
            pos, block = self._block(data, pos)
            if block is None:
                return pos
        self._line_checked = False
        headers = self._headers(block)
        version, status, reason = self._status
        if status < 200:
            if status == 101:
                raise ProtocolError("unexpected 101 Switching Protocols response")
            self._interim += 1
            if self._interim > MAX_INTERIM:
                raise ProtocolError(f"too many interim (1xx) responses (more than {MAX_INTERIM})")
            return pos
        events.append(Head(status, reason, version, headers))
        self._start_body(status, headers)
        return pos

    def _headers(self, block: bytes) -> Headers:
        """The header fields of a head ``block`` (its first line is the status line)."""
        nl = block.find(b"\n")
        if nl >= 0 and block.count(b"\n") <= self._max_headers:
            fields = parse_section(block, nl + 1)
            if fields is not None:
                return Headers.from_lowercase(fields)
        return Headers(parse_fields(self._split_lines(block, "headers"), 1))

    def _start_body(self, status: int, headers: Headers) -> None:
        if self._no_body or status in (204, 304):
            self.framing = "none"
            self._state = _DONE
            return
        if headers.get("transfer-encoding") is None:  # usual: one plain Content-Length
            length = headers.get("content-length")
            if length is not None and _DIGITS.fullmatch(length):  # as `_content_length` checks
                self._body_of_length(int(length))
                return
        te = headers.get_all("transfer-encoding")
        lengths = headers.get_all("content-length")
        if te and lengths:
            # RFC 9112 §6.3: "ought to be handled as an error" (request smuggling, splitting)
            raise ProtocolError("both Transfer-Encoding and Content-Length in one response")
        if te:
            codings = [c.strip(" \t").lower() for value in te for c in value.split(",")]
            if codings != ["chunked"]:
                raise ProtocolError(f"unsupported transfer-encoding: {', '.join(te)[:60]!r}")
            self.framing = "chunked"
            self._state = _CHUNK_SIZE_LINE
            return
        if lengths:
            self._body_of_length(_content_length(lengths))
            return
        self.framing = "eof"
        self._state = _UNTIL_EOF

    def _body_of_length(self, length: int) -> None:
        self._expected = self._remaining = length
        self.framing = "length"
        self._state = _LENGTH if length else _DONE

    # -- chunked body -------------------------------------------------------------------------

    def _chunk_size(self, data: bytes, pos: int) -> int:
        buf = self._buf
        nl = data.find(b"\n", pos)
        if nl < 0:
            if len(buf) + len(data) - pos > MAX_CHUNK_LINE:
                raise ProtocolError(f"chunk size line too long (more than {MAX_CHUNK_LINE} bytes)")
            buf += data[pos:]
            return len(data)
        if len(buf) + nl - pos > MAX_CHUNK_LINE:
            raise ProtocolError(f"chunk size line too long (more than {MAX_CHUNK_LINE} bytes)")
        line: bytes | bytearray = data[pos:nl]
        if buf:
            buf += line
            line = bytes(buf)
            buf.clear()
        if line[-1:] == b"\r":
            line = line[:-1]
        m = _CHUNK_SIZE.fullmatch(line)
        if m is None:
            raise ProtocolError(f"bad chunk size: {short(line)}")
        size = int(m.group(1), 16)
        if size:
            self._remaining = size
            self._state = _CHUNK_DATA
        else:
            # The trailer section ends at the first blank line; a synthetic LF lets the
            # blank-line search treat "no trailers" (a lone CRLF) like any other section.
            buf.append(0x0A)
            self._state = _TRAILERS
        return nl + 1

    def _chunk_end(self, data: bytes, pos: int) -> int:
        byte = data[pos]
        if byte == 0x0A:
            self._saw_cr = False
            self._state = _CHUNK_SIZE_LINE
        elif byte == 0x0D and not self._saw_cr:
            self._saw_cr = True
        else:
            raise ProtocolError("bad chunk terminator")
        return pos + 1

    def _trailers(self, data: bytes, pos: int) -> int:
        pos, block = self._block(data, pos)
        if block is not None:
            parse_fields(self._split_lines(block, "trailer fields"), 1)  # validated, discarded
            self._state = _DONE
        return pos
