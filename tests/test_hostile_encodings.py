"""Hostile servers, part 2: Content-Encoding — identical results on every engine (issue 5).

Decoded codings (gzip, x-gzip, deflate zlib-wrapped or raw, br, stacked) save the decoded bytes;
a corrupt, cut-off or unknown coding is a `decoding` error with no file; a decompression bomb is
stopped by ``max_size`` with bounded memory (peak RSS measured in a child process per engine).
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import brotli
import pytest
from fetchrun import saved_files
from hostile import Case, bad, check_table, ok
from rawserver import RawServer

pytestmark = pytest.mark.timeout(60)

BODY = b"".join(b"line %d of the decoded body\n" % i for i in range(2000))


def deflate(data: bytes, wbits: int = 15) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


def response(coding: bytes, packed: bytes, status: bytes = b"200 OK") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nContent-Encoding: " + coding
        + b"\r\nContent-Length: %d\r\n\r\n" % len(packed) + packed
    )  # fmt: skip


def chunked(coding: bytes, packed: bytes, size: int = 1000) -> bytes:
    chunks = [packed[i : i + size] for i in range(0, len(packed), size)]
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    return (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: " + coding
        + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n"
    )  # fmt: skip


GZ = gzip.compress(BODY)
ZL = deflate(BODY)
RAW = deflate(BODY, -15)
BR = brotli.compress(BODY)
BAD_CRC = GZ[:-8] + bytes([GZ[-8] ^ 0xFF]) + GZ[-7:]

ENCODINGS: dict[str, Case] = {
    # -- decoded ------------------------------------------------------------------------------
    "gzip": ok(response(b"gzip", GZ), BODY),
    "x-gzip-uppercase": ok(response(b"X-GZIP", GZ), BODY),
    "gzip-two-members": ok(response(b"gzip", GZ + gzip.compress(b"tail")), BODY + b"tail"),
    "deflate-zlib": ok(response(b"deflate", ZL), BODY),
    "deflate-raw": ok(response(b"deflate", RAW), BODY),
    "br": ok(response(b"br", BR), BODY),
    "br-chunked": ok(chunked(b"br", BR, 7), BODY),
    "stacked-deflate-gzip": ok(response(b"deflate, gzip", gzip.compress(ZL)), BODY),
    "stacked-gzip-br": ok(response(b"gzip,br", brotli.compress(GZ)), BODY),
    "stacked-three-chunked": ok(
        chunked(b"br, deflate, gzip", gzip.compress(deflate(BR, -15)), 333),
        BODY,
    ),
    "identity-in-list": ok(response(b"identity, gzip", GZ), BODY),
    "gzip-empty-body": ok(response(b"gzip", b""), b""),
    "not-2xx-not-decoded": bad(response(b"gzip", b"junk", b"404 Not Found"), "http_status", "404"),
    # -- corrupt --------------------------------------------------------------------------------
    "gzip-bad-magic": bad(response(b"gzip", b"PK" + GZ[2:]), "decoding", "gzip"),
    "gzip-bad-crc": bad(response(b"gzip", BAD_CRC), "decoding", "gzip"),
    "gzip-corrupt-middle": bad(
        response(b"gzip", GZ[:40] + bytes(b ^ 0x55 for b in GZ[40:80]) + GZ[80:]),
        "decoding",
        "gzip",
    ),
    "gzip-trailing-garbage": bad(response(b"gzip", GZ + b"garbage!"), "decoding", "gzip"),
    "deflate-corrupt": bad(response(b"deflate", b"\x78\x9c" + b"\xff" * 50), "decoding", "deflate"),
    "deflate-trailing-garbage": bad(response(b"deflate", ZL + b"xx"), "decoding", "deflate"),
    "br-corrupt": bad(response(b"br", b"\xff" * 64), "decoding", "brotli"),
    "br-trailing-garbage": bad(response(b"br", BR + b"xx"), "decoding", "brotli"),
    "stacked-inner-corrupt": bad(
        response(b"deflate, gzip", gzip.compress(b"\x78\x9c" + b"\xff" * 50)), "decoding", "deflate"
    ),
    "declared-gzip-sent-plain": bad(response(b"gzip", BODY), "decoding", "gzip"),
    # -- cut off (the framing is complete, the compressed stream is not) -------------------------
    "gzip-cut": bad(response(b"gzip", GZ[: len(GZ) // 2]), "decoding", "truncated gzip"),
    "gzip-header-only": bad(response(b"gzip", GZ[:10]), "decoding", "truncated gzip"),
    "gzip-cut-chunked": bad(chunked(b"gzip", GZ[:-4], 100), "decoding", "truncated gzip"),
    "deflate-zlib-cut": bad(response(b"deflate", ZL[:-10]), "decoding", "truncated deflate"),
    "deflate-raw-cut": bad(response(b"deflate", RAW[: len(RAW) // 2]), "decoding", "deflate"),
    "deflate-one-byte": bad(response(b"deflate", ZL[:1]), "decoding", "truncated deflate"),
    "br-cut": bad(response(b"br", BR[:-3]), "decoding", "truncated brotli"),
    "stacked-outer-cut": bad(
        response(b"deflate, gzip", gzip.compress(ZL)[:-9]), "decoding", "truncated"
    ),
    # -- unknown --------------------------------------------------------------------------------
    "unknown-compress": bad(response(b"compress", b"\x1f\x9d\x90"), "decoding", "compress"),
    "unknown-in-stack": bad(response(b"gzip, zz", GZ), "decoding", "zz"),
    "unknown-empty-body": bad(response(b"zz", b""), "decoding", "zz"),
    "empty-coding-token": ok(response(b"gzip, ,", GZ), BODY),
}


def test_encodings(engine: str, raw_server: RawServer, tmp_path: Path) -> None:
    _, problems = check_table(engine, raw_server, ENCODINGS, tmp_path)
    assert not problems, "\n".join(problems)


# -- decompression bomb: stopped by max_size, memory bounded ----------------------------------

BOMB_MIB = 1024
MAX_SIZE = 200_000_000  # decoded bytes saved before the bomb is stopped: more than the bound
PEAK_BOUND_MIB = 150  # peak RSS above the child's baseline (all engines imported)


def gzip_bomb(mib: int) -> bytes:
    """``mib`` MiB of zeros, gzipped (1 GiB: about 1 MB): one compressed 1 MiB block repeated."""
    zeros = bytes(1 << 20)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)  # gzip header + block
    block = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)  # independent of the rest
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    tail = b"\x03\x00" + struct.pack("<II", crc, (mib << 20) & 0xFFFFFFFF)  # final empty block
    return first + block * (mib - 1) + tail


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return gzip_bomb(BOMB_MIB)


def test_gzip_bomb_is_valid() -> None:
    assert gzip.decompress(gzip_bomb(3)) == bytes(3 << 20)  # gzip checks the CRC and size


CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from importlib import import_module
    from multiprocessing import forkserver
    from fetchall.api import fetch_all
    from fetchall.engines import ENGINES

    for info in ENGINES.values():  # the baseline includes every engine's imports
        import_module(info.factory.partition(":")[0])

    def own_peak_kib():
        # VmHWM starts afresh at exec; ru_maxrss would start at the parent's size at fork
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    url, engine, out, max_size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    base = own_peak_kib()
    results = []
    fetch_all([url], engine=engine, out=out, max_size=max_size, retries=0, timeout=30,
              on_result=results.append)
    # Pool workers are the fork server's children: stopping (and reaping) the fork server
    # makes their peak count in RUSAGE_CHILDREN too.
    forkserver._forkserver._stop()
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    r = results[0]
    print(json.dumps({"base": base, "peak": max(own_peak_kib(), children),
                      "error_type": r.error_type, "path": r.path}))
    """
)


def test_decompression_bomb_memory_is_bounded(
    engine: str, raw_server: RawServer, tmp_path: Path, bomb: bytes
) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(bomb)
    url = raw_server.route("/bomb", head + bomb)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, url, engine, str(out), str(MAX_SIZE)],
        capture_output=True,
        text=True,
        timeout=50,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["error_type"] == "too_large" and report["path"] is None, report
    grown_mib = (report["peak"] - report["base"]) / 1024
    assert grown_mib < PEAK_BOUND_MIB, f"{engine}: peak RSS grew by {grown_mib:.0f} MiB"
    assert not saved_files(out)
