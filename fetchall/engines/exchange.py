"""One attempt's response handling, shared by every engine: head → decision → body → temp file.

Strategy: engines only move bytes. Hand-built engines call `Exchange.feed()` with raw bytes (the
sans-I/O parser frames them); the aiohttp engine, whose library parses for it, calls
`on_head` / `on_data` / `on_end` directly. A 2xx body is decoded (Content-Encoding), checked
against ``max_size`` *after* decoding (so a decompression bomb stops early) and streamed to a
temporary `BodyFile`; any other status needs no body, so the exchange finishes right after the
head. On any failure the temporary file is discarded: no leftovers. A request with a
``body_limit`` (robots.txt) keeps the first ``body_limit`` decoded bytes as the whole body and
needs no more bytes after them (`full`) instead of failing.
"""

from __future__ import annotations

import time
from typing import cast

from fetchall.errors import FetchError, TooLargeError
from fetchall.http.decoders import BodyDecoder, make_decoder
from fetchall.http.headers import Headers
from fetchall.http.parser import Data, End, Head, ResponseParser
from fetchall.http.request import encode_request
from fetchall.output.bodyfile import BodyFile
from fetchall.output.writer import OutputDir
from fetchall.policy import Outcome, Request

READ_SIZE = 256 * 1024
"""How much engines read per call: large reads keep per-request overhead low."""


class Exchange:
    """The response side of one attempt (see module docstring)."""

    __slots__ = (
        "_body",
        "_decoder",
        "_out",
        "_parser",
        "done",
        "full",
        "http_version",
        "max_size",
        "outcome",
        "plain",
        "request",
        "truncate",
    )

    def __init__(self, request: Request, out: OutputDir, max_size: int | None) -> None:
        self.request = request
        self.truncate = request.body_limit is not None
        self.max_size = request.body_limit if self.truncate else max_size
        self.outcome = Outcome()
        self.done = False
        self.full = False  # a truncating exchange has all the body it keeps
        self.http_version = ""  # of the final head, once `feed` has seen it
        self.plain = False  # a 2xx body without Content-Encoding
        self._out = out
        self._parser: ResponseParser | None = None
        self._decoder: BodyDecoder | None = None
        self._body: BodyFile | None = None

    def request_bytes(self, version: str = "HTTP/1.0") -> bytes:
        """The encoded request (hand-built engines send this)."""
        req = self.request
        return encode_request(req.method, req.target.target, req.headers, version)

    def mark_sent(self) -> None:
        """The request's first byte goes to the socket now (after connect and TLS): noted as
        `Outcome.sent`, from which politeness spaces the host's next request. Engines call it
        right before their first write of the request."""
        self.outcome.sent = time.monotonic()

    def takes_views(self) -> bool:
        """Whether `feed` may be given a memoryview the caller reuses afterwards: inside a
        plain body framed by length or EOF, where every byte is only sliced and written (or
        copied) before `feed` returns (chunked framing and decoders keep pieces: not there)."""
        parser = self._parser
        return self.plain and not self.full and parser is not None and parser.in_plain_body

    def direct_body(self, least: int) -> int | None:
        """The temporary file's descriptor when the rest of the body may be appended to it
        without `feed` (`moved`; the parser's `body_left` says how much): a plain body framed
        by Content-Length with at least ``least`` bytes left, that nothing needs to see (no
        decoder, no truncation, no digest), and whose end stays within ``max_size``."""
        parser, body = self._parser, self._body
        if self.truncate or not self.takes_views() or parser is None or body is None:
            return None
        left = parser.body_left
        if left < least or (self.max_size is not None and body.size + left > self.max_size):
            return None  # (a Content-Length the head's check could not read: "5, 5")
        return body.direct_fd()

    def moved(self, count: int) -> bool:
        """``count`` body bytes were appended through `direct_body`'s descriptor: True once
        the response is complete (the body file is then closed, as `on_end` does)."""
        assert self._parser is not None and self._body is not None
        self._body.appended(count)
        if self._parser.skip_body(count):
            self.on_end()
            return True
        return False

    def feed(self, data: bytes | memoryview) -> bool:
        """Feed raw response bytes (``b""`` = EOF). True once no more bytes are needed."""
        if self._parser is None:
            self._parser = ResponseParser(method=self.request.method)
        for event in self._parser.feed(data):
            if isinstance(event, Data):
                self.on_data(event.data)
            elif isinstance(event, Head):
                self.http_version = event.http_version
                if not self.on_head(event.status, event.reason, event.headers):
                    return True
            elif isinstance(event, End):
                self.on_end()
        if self.full and not self.done:
            self.on_end()
        return self.done

    @property
    def parser(self) -> ResponseParser | None:
        """The framing parser `feed` uses (None before the first byte)."""
        return self._parser

    def on_head(self, status: int, reason: str, headers: Headers) -> bool:
        """Record the final head; True if the body is wanted (2xx), else the exchange is done."""
        self.outcome.status, self.outcome.reason, self.outcome.headers = status, reason, headers
        if not 200 <= status < 300:
            self.done = True
            return False
        encoding = headers.get("content-encoding")
        self.plain = encoding is None
        if not self.plain:  # a plain body is written as it comes: no decoder
            self._decoder = make_decoder(encoding)
        if self.max_size is not None and not self.truncate and self.plain:
            length = headers.get("content-length")
            if length and length.isascii() and length.isdigit() and int(length) > self.max_size:
                raise TooLargeError(f"body of {length} bytes exceeds --max-size {self.max_size}")
        self._body = self._out.new_temp()
        return True

    def on_data(self, data: bytes | memoryview) -> None:
        """Decode, size-check and write a piece of body (nothing once `full`)."""
        if self.plain:  # no Content-Encoding: the bytes as they are, in one write
            if not self.full:
                self._write(data)
            return
        assert self._decoder is not None
        for piece in self._decoder.decode(cast(bytes, data)):  # views come in plain bodies only
            if self.full:
                return
            self._write(piece)

    def on_end(self) -> None:
        """The body is complete (or `full`): flush the decoder and close the file."""
        assert self._body is not None
        if not self.full and self._decoder is not None:
            for piece in self._decoder.flush():
                self._write(piece)
        self._body.close()
        self.outcome.body = self._body
        self.outcome.size = self._body.size
        self.done = True

    def finish(self) -> Outcome:
        """The outcome of a completed exchange."""
        return self.outcome

    def fail(self, error: FetchError) -> Outcome:
        """The outcome of a failed exchange; the temporary body file (if any) is removed."""
        self.discard()
        self.outcome.body = None
        self.outcome.error = error
        return self.outcome

    def discard(self) -> None:
        """Remove the temporary body file, if any (idempotent)."""
        if self._body is not None:
            self._body.discard()
            self._body = None

    def _write(self, piece: bytes | memoryview) -> None:
        assert self._body is not None
        if self.max_size is not None and self._body.size + len(piece) > self.max_size:
            if not self.truncate:
                raise TooLargeError(f"decoded body exceeds --max-size {self.max_size} bytes")
            piece = piece[: self.max_size - self._body.size]
            self.full = True
        self._body.write(piece)
