"""Tests for the streaming Content-Encoding decoders (fetchall.http.decoders)."""

from __future__ import annotations

import gzip
import os
import tracemalloc
import zlib
from collections.abc import Callable, Iterable

import pytest

from fetchall.errors import DecodingError
from fetchall.http import decoders
from fetchall.http.decoders import BodyDecoder, accept_encoding, make_decoder

brotli = pytest.importorskip("brotli")

TEXT = b"".join(b"line %d: the quick brown fox jumps over the lazy dog\n" % i for i in range(5000))
MIXED = TEXT + os.urandom(50_000) + TEXT


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "deflate-raw": raw_deflate,
    "br": lambda data: brotli.compress(data, quality=5),
}


def coding_of(name: str) -> str:
    return "deflate" if name == "deflate-raw" else name


def run(decoder: BodyDecoder, pieces: Iterable[bytes], max_piece: int | None = None) -> bytes:
    out = []
    for piece in pieces:
        for chunk in decoder.decode(piece):
            assert chunk
            if max_piece is not None:
                assert len(chunk) <= max_piece
            out.append(chunk)
    for chunk in decoder.flush():
        assert chunk
        if max_piece is not None:
            assert len(chunk) <= max_piece
        out.append(chunk)
    return b"".join(out)


def decode_all(encoding: str | None, data: bytes, max_piece: int = 262144) -> bytes:
    return run(make_decoder(encoding, max_piece=max_piece), [data], max_piece)


def slices(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("name", ENCODERS)
@pytest.mark.parametrize("payload", [b"", b"x", TEXT, MIXED], ids=["empty", "one", "text", "mixed"])
def test_round_trip(name: str, payload: bytes) -> None:
    assert decode_all(coding_of(name), ENCODERS[name](payload)) == payload


@pytest.mark.parametrize("name", ENCODERS)
@pytest.mark.parametrize("size", [1, 7, 1000])
def test_tiny_input_slices(name: str, size: int) -> None:
    payload = TEXT[:20000] + os.urandom(3000) + TEXT[:20000]
    encoded = ENCODERS[name](payload)
    decoder = make_decoder(coding_of(name), max_piece=4096)
    assert run(decoder, slices(encoded, size), 4096) == payload


@pytest.mark.parametrize("name", ENCODERS)
@pytest.mark.parametrize("max_piece", [1, 100, 65536])
def test_pieces_are_bounded(name: str, max_piece: int) -> None:
    payload = TEXT[:30000] if max_piece == 1 else MIXED
    encoded = ENCODERS[name](payload)
    assert decode_all(coding_of(name), encoded, max_piece) == payload


@pytest.mark.parametrize("value", [None, "", "identity", " Identity ", "identity, identity"])
def test_identity(value: str | None) -> None:
    assert decode_all(value, MIXED) == MIXED
    assert decode_all(value, MIXED, max_piece=1000) == MIXED
    assert decode_all(value, b"") == b""


def test_case_and_whitespace_tolerant() -> None:
    assert decode_all(" GZip ", gzip.compress(TEXT)) == TEXT
    assert decode_all("DEFLATE", zlib.compress(TEXT)) == TEXT
    assert decode_all("gzip,\tdeflate", zlib.compress(gzip.compress(TEXT))) == TEXT


def test_stacked_decoded_in_reverse_order() -> None:
    encoded = zlib.compress(gzip.compress(TEXT))  # gzip applied first, then deflate
    assert decode_all("gzip, deflate", encoded) == TEXT
    with pytest.raises(DecodingError):
        decode_all("deflate, gzip", encoded)
    triple = ENCODERS["br"](raw_deflate(gzip.compress(MIXED)))
    assert decode_all("gzip, deflate, br", triple, 5000) == MIXED
    decoder = make_decoder("gzip, identity, deflate, br", max_piece=333)
    assert run(decoder, slices(triple, 11), 333) == MIXED


def test_multi_member_gzip() -> None:
    encoded = gzip.compress(b"first,") + gzip.compress(b"") + gzip.compress(b"second")
    assert decode_all("gzip", encoded) == b"first,second"
    assert run(make_decoder("gzip"), slices(encoded, 1)) == b"first,second"


@pytest.mark.parametrize("garbage", [b"garbage!", b"\x00", b"\x00" * 20, b"\x1f\x8bjunk"], ids=repr)
def test_garbage_after_gzip(garbage: bytes) -> None:
    with pytest.raises(DecodingError):
        decode_all("gzip", gzip.compress(TEXT) + garbage)


@pytest.mark.parametrize("coding", ["deflate", "br"])
def test_garbage_after_other_streams(coding: str) -> None:
    encoded = ENCODERS[coding](TEXT)
    with pytest.raises(DecodingError):
        decode_all(coding, encoded + b"garbage")
    with pytest.raises(DecodingError):
        run(make_decoder(coding), [encoded, b"garbage"])


def corrupt(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:10] + bytes(b ^ 0x5A for b in data[10:middle]) + data[middle:]


@pytest.mark.parametrize("name", ENCODERS)
def test_corrupt(name: str) -> None:
    with pytest.raises(DecodingError):
        decode_all(coding_of(name), corrupt(ENCODERS[name](MIXED)))


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_not_compressed_at_all(coding: str) -> None:
    with pytest.raises(DecodingError):
        decode_all(coding, b"<html>this is not compressed</html>" * 10)


def test_gzip_crc_mismatch() -> None:
    encoded = bytearray(gzip.compress(TEXT))
    encoded[-8] ^= 0xFF  # CRC32
    with pytest.raises(DecodingError):
        decode_all("gzip", bytes(encoded))


TRUNCATIONS: dict[str, Callable[[bytes], bytes]] = {
    "first-byte": lambda data: data[:1],
    "half": lambda data: data[: len(data) // 2],
    "all-but-last": lambda data: data[:-1],
}


@pytest.mark.parametrize("name", ENCODERS)
@pytest.mark.parametrize("cut", TRUNCATIONS)
def test_truncated(name: str, cut: str) -> None:
    encoded = TRUNCATIONS[cut](ENCODERS[name](MIXED))
    with pytest.raises(DecodingError, match="truncated"):
        run(make_decoder(coding_of(name)), [encoded])


def test_unknown_encoding() -> None:
    with pytest.raises(DecodingError, match="unsupported content-encoding: 'compress'"):
        make_decoder("compress")
    with pytest.raises(DecodingError, match="unsupported content-encoding"):
        make_decoder("gzip, zstd")


def test_brotli_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoders, "brotli", None)
    with pytest.raises(
        DecodingError, match=r"brotli not installed \(pip install fetchall\[brotli\]"
    ):
        make_decoder("br")
    assert accept_encoding() == "gzip, deflate"
    assert decode_all("gzip", gzip.compress(b"ok")) == b"ok"


def test_accept_encoding() -> None:
    assert accept_encoding() == "gzip, deflate, br"


def test_bad_max_piece() -> None:
    with pytest.raises(ValueError):
        make_decoder("gzip", max_piece=0)


# --- decompression bombs ----------------------------------------------------------------------

BOMB_SIZE = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    zeros = bytes(BOMB_SIZE)
    return {
        "gzip": gzip.compress(zeros, 9),
        "deflate": zlib.compress(zeros, 9),
        "br": brotli.compress(zeros, quality=5),
        "gzip, gzip": gzip.compress(gzip.compress(zeros, 9), 9),
    }


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "gzip, gzip"])
def test_bomb_is_decoded_lazily_in_bounded_pieces(bombs: dict[str, bytes], coding: str) -> None:
    encoded = bombs[coding]
    max_piece = 256 * 1024
    decoder = make_decoder(coding, max_piece=max_piece)
    total = pieces = 0
    tracemalloc.start()
    try:
        for piece in decoder.decode(encoded):
            assert 0 < len(piece) <= max_piece
            total += len(piece)
            pieces += 1
            del piece
        for piece in decoder.flush():
            total += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == BOMB_SIZE
    assert pieces >= BOMB_SIZE // max_piece
    assert peak < 8 * max_piece  # never more than a few pieces alive, nowhere near 50 MB


def test_bomb_can_be_abandoned_after_the_first_piece(bombs: dict[str, bytes]) -> None:
    decoder = make_decoder("gzip", max_piece=1024)
    first = next(iter(decoder.decode(bombs["gzip"])))
    assert first == bytes(1024)
