"""Streaming, bounded Content-Encoding decoders (gzip, deflate, br, stacked; no I/O).

Strategy: ``decode`` and ``flush`` are generators yielding decoded pieces of at most ``max_piece``
bytes, produced lazily with zlib's ``max_length``/``unconsumed_tail`` (or brotli's
``output_buffer_limit``), so a decompression bomb never materialises: the caller writes (or
rejects, via its size limit) one piece before the next is inflated. Callers must exhaust each
returned iterator before calling ``decode`` or ``flush`` again. Stacked codings are chained, the
last-applied one decoded first, every stage bounded the same way.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any, Protocol

from fetchall.errors import DecodingError


def _load_brotli() -> Any:
    try:
        import brotli
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return brotli


brotli: Any = _load_brotli()
"""The brotli module, or None when it is not installed."""

DEFAULT_MAX_PIECE = 256 * 1024
"""Default upper bound, in bytes, of each decoded piece."""

_GZIP_WBITS = 16 + zlib.MAX_WBITS


class BodyDecoder(Protocol):
    """Decodes a content-encoded body incrementally, in bounded pieces."""

    def decode(self, data: bytes) -> Iterator[bytes]:
        """Feed encoded bytes; yield decoded pieces (each at most ``max_piece`` bytes)."""
        ...

    def flush(self) -> Iterator[bytes]:
        """The body ended: yield what remains; raise `DecodingError` if the stream is truncated."""
        ...


def _brotli_available() -> bool:
    # Bounded output needs brotli >= 1.2: can_accept_more_data() arrived together with
    # process(..., output_buffer_limit=...).
    decompressor = getattr(brotli, "Decompressor", None)
    return hasattr(decompressor, "can_accept_more_data")


def accept_encoding() -> str:
    """The ``Accept-Encoding`` value matching the decoders available here."""
    return "gzip, deflate, br" if _brotli_available() else "gzip, deflate"


def _split(data: bytes, max_piece: int) -> Iterator[bytes]:
    if len(data) <= max_piece:
        if data:
            yield data
        return
    for i in range(0, len(data), max_piece):
        yield data[i : i + max_piece]


def _inflate(d: zlib._Decompress, data: bytes, max_piece: int, name: str) -> Iterator[bytes]:
    """Yield everything ``data`` decodes to, ``max_piece`` bytes at a time."""
    try:
        while True:
            out = d.decompress(data, max_piece)
            if out:
                yield out
            data = d.unconsumed_tail
            if d.eof or (not data and len(out) < max_piece):
                return
    except zlib.error as exc:
        raise DecodingError(f"corrupt {name} stream: {exc}") from None


class _Identity:
    __slots__ = ("_max",)

    def __init__(self, max_piece: int) -> None:
        self._max = max_piece

    def decode(self, data: bytes) -> Iterator[bytes]:
        return _split(data, self._max)

    def flush(self) -> Iterator[bytes]:
        return iter(())


class _Gzip:
    """gzip, possibly several members back to back; anything else after a member is an error."""

    __slots__ = ("_d", "_max", "_started")

    def __init__(self, max_piece: int) -> None:
        self._max = max_piece
        self._d = zlib.decompressobj(_GZIP_WBITS)
        self._started = False  # the current member has received input

    def decode(self, data: bytes) -> Iterator[bytes]:
        while data:
            self._started = True
            yield from _inflate(self._d, data, self._max, "gzip")
            if not self._d.eof:
                return
            data = self._d.unused_data  # the next member, if any
            self._d = zlib.decompressobj(_GZIP_WBITS)
            self._started = False

    def flush(self) -> Iterator[bytes]:
        if self._started:
            raise DecodingError("truncated gzip stream")
        return iter(())


class _Deflate:
    """deflate: zlib-wrapped (RFC 1950) or raw (RFC 1951), told apart by the first two bytes."""

    __slots__ = ("_d", "_max", "_start")

    def __init__(self, max_piece: int) -> None:
        self._max = max_piece
        self._d: zlib._Decompress | None = None
        self._start = b""  # the first byte, while waiting for the second

    def decode(self, data: bytes) -> Iterator[bytes]:
        if self._d is None:
            data = self._start + data
            if len(data) < 2:
                self._start = data
                return
            raw = not _is_zlib_header(data[0], data[1])
            self._d = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        d = self._d
        if d.eof:
            if data:
                raise DecodingError("unexpected data after the end of the deflate stream")
            return
        yield from _inflate(d, data, self._max, "deflate")
        if d.eof and d.unused_data:
            raise DecodingError("unexpected data after the end of the deflate stream")

    def flush(self) -> Iterator[bytes]:
        if (self._d is None and self._start) or (self._d is not None and not self._d.eof):
            raise DecodingError("truncated deflate stream")
        return iter(())


def _is_zlib_header(cmf: int, flg: int) -> bool:
    """RFC 1950 header: method 8, window ≤ 32 KiB, valid check bits, no preset dictionary."""
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf << 8 | flg) % 31 == 0 and not flg & 0x20


class _Brotli:
    """br, through brotli's streaming Decompressor with a bounded output buffer."""

    __slots__ = ("_d", "_max", "_started")

    def __init__(self, max_piece: int) -> None:
        self._max = max_piece
        self._d = brotli.Decompressor()
        self._started = False

    def decode(self, data: bytes) -> Iterator[bytes]:
        if not data:
            return
        if self._d.is_finished():
            raise DecodingError("unexpected data after the end of the brotli stream")
        self._started = True
        yield from self._process(data)

    def _process(self, data: bytes) -> Iterator[bytes]:
        # output_buffer_limit is a soft cap (brotli may overshoot it up to about 2x), so ask for
        # half a piece and split whatever comes back.
        d, limit = self._d, max(self._max // 2, 1)
        try:
            out = d.process(data, output_buffer_limit=limit)
            while out:
                yield from _split(out, self._max)
                if d.is_finished():
                    return
                out = d.process(b"", output_buffer_limit=limit)
        except brotli.error as exc:
            raise DecodingError(f"corrupt brotli stream: {exc}") from None

    def flush(self) -> Iterator[bytes]:
        if self._started:
            yield from self._process(b"")
            if not self._d.is_finished():
                raise DecodingError("truncated brotli stream")


class _Chain:
    """Stacked codings: ``decoders`` in decoding order, each stage's pieces fed to the next."""

    __slots__ = ("_decoders",)

    def __init__(self, decoders: list[BodyDecoder]) -> None:
        self._decoders = decoders

    def _through(self, i: int, pieces: Iterator[bytes]) -> Iterator[bytes]:
        if i == len(self._decoders):
            yield from pieces
            return
        stage = self._decoders[i]
        for piece in pieces:
            yield from self._through(i + 1, stage.decode(piece))

    def decode(self, data: bytes) -> Iterator[bytes]:
        return self._through(0, iter((data,)))

    def flush(self) -> Iterator[bytes]:
        for i, stage in enumerate(self._decoders):
            yield from self._through(i + 1, stage.flush())


_FACTORIES: dict[str, type[_Gzip] | type[_Deflate] | type[_Brotli]] = {
    "gzip": _Gzip,
    "x-gzip": _Gzip,
    "deflate": _Deflate,
    "br": _Brotli,
}


def make_decoder(
    content_encoding: str | None, *, max_piece: int = DEFAULT_MAX_PIECE
) -> BodyDecoder:
    """A decoder for a ``Content-Encoding`` value (``None``/empty/``identity``: passthrough).

    Raises `DecodingError` for an unknown coding, or for ``br`` when brotli is not installed.
    """
    if max_piece < 1:
        raise ValueError("max_piece must be positive")
    codings = [c.strip(" \t").lower() for c in (content_encoding or "").split(",")]
    decoders: list[BodyDecoder] = []
    for coding in reversed(codings):  # the last coding listed was applied last
        if not coding or coding == "identity":
            continue
        factory = _FACTORIES.get(coding)
        if factory is None:
            raise DecodingError(f"unsupported content-encoding: {content_encoding!r}")
        if factory is _Brotli and not _brotli_available():
            if brotli is None:
                raise DecodingError("brotli not installed (pip install fetchall[brotli])")
            raise DecodingError("brotli >= 1.2 required (pip install 'fetchall[brotli]')")
        decoders.append(factory(max_piece))
    if not decoders:
        return _Identity(max_piece)
    return decoders[0] if len(decoders) == 1 else _Chain(decoders)
