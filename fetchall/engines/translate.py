"""Translate OS, socket and TLS exceptions into fetchall's error hierarchy (engine boundary)."""

from __future__ import annotations

import socket
import ssl

from fetchall.errors import (
    ConnectError,
    ConnectionLostError,
    DNSError,
    FetchError,
    FetchTimeoutError,
    TLSError,
)
from fetchall.urls import Target


def translate_exception(
    exc: BaseException, target: Target, *, connected: bool, timeout: float
) -> FetchError:
    """The `FetchError` for ``exc``; ``connected`` says whether TCP (and TLS) setup had finished."""
    where = f"{target.host_header}"
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, socket.gaierror):
        return DNSError(f"cannot resolve host {target.host!r}: {exc.strerror or exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TLSError(f"certificate verify failed for {where}: {exc.verify_message or exc}")
    if isinstance(exc, ssl.SSLError):
        return TLSError(f"TLS error with {where}: {exc.reason or exc}")
    if isinstance(exc, TimeoutError):
        if connected:
            return FetchTimeoutError(f"timed out after {timeout:g}s")
        return FetchTimeoutError(f"connect to {where} timed out after {timeout:g}s")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectError(f"connection refused by {where}")
    if isinstance(exc, OSError):
        reason = exc.strerror or type(exc).__name__
        if connected:
            return ConnectionLostError(f"connection to {where} lost: {reason}")
        return ConnectError(f"cannot connect to {where}: {reason}")
    return FetchError(f"{type(exc).__name__}: {exc}")
