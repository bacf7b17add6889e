"""Header (and trailer) field lines -> ``(name, value)`` pairs, for the response parser.

Strategy: a fast path for a whole well-formed section (every line ``token: value``, CR only at a
line's end, no NUL, no obs-fold): one ``findall`` over the section decoded as latin-1 takes every
well-formed line (each match is one whole line, anchored at its start), and the section is
well formed exactly when every line matched; names lower-cased. Anything else goes line by line
through the careful path, which unfolds obs-fold and names the first bad line in its
`ProtocolError`.
Both give the same pairs wherever the fast path applies (fuzzed; a hypothesis test keeps it so).
Pure: no I/O.
"""

from __future__ import annotations

import re

from fetchall.errors import ProtocolError

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A well-formed field line (token, colon, value without CR or NUL, optional final CR): the fast
# path of `parse_fields`; anything else (obs-fold, errors) takes the careful path.
_FIELD_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([^\r\x00]*)\r?")


def short(line: bytes | bytearray) -> str:
    """A line's first 40 bytes as a ``repr`` (with ``...`` if longer), for error messages."""
    return repr(bytes(line[:40])) + ("..." if len(line) > 40 else "")


# The fast path of a whole field section: a match is one whole well-formed line (it starts at a
# line's start, and its value can hold neither LF nor a CR other than the last byte before the
# LF), so the section is well formed exactly when there are as many matches as lines. Names
# are token characters (ASCII), so decoding the section as latin-1 keeps names and values exact.
_FIELD_LINE_TEXT = re.compile(
    r"^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\r\n\x00]*)\r?\n", re.MULTILINE
)


def parse_section(block: bytes, start: int) -> list[tuple[str, str]] | None:
    """The fields of ``block[start:]`` (lines without their final LF) with lower-case names, or
    None if any line needs the careful path. Where both apply, the same as `parse_fields` with
    the names lower-cased."""
    text = block[start:].decode("latin-1") + "\n"
    pairs = _FIELD_LINE_TEXT.findall(text)
    if len(pairs) != text.count("\n"):  # a line that is not well formed matched nothing
        return None
    return [(name.lower(), value.rstrip(" \t")) for name, value in pairs]


def parse_fields(lines: list[bytes], start: int) -> list[tuple[str, str]]:
    """Header (or trailer) field lines → ``(name, value)`` pairs; obs-fold is unfolded."""
    fields: list[tuple[str, str]] = []
    match = _FIELD_LINE.fullmatch
    for i in range(start, len(lines)):
        m = match(lines[i])
        if m is None:
            return _parse_fields_slow(lines, start)
        fields.append((m[1].decode("ascii"), m[2].strip(b" \t").decode("latin-1")))
    return fields


def _parse_fields_slow(lines: list[bytes], start: int) -> list[tuple[str, str]]:
    """`parse_fields` for any input: unfolds obs-fold and names the first bad line."""
    names: list[bytes] = []
    values: list[bytes] = []
    for i in range(start, len(lines)):
        line = lines[i]
        if line[-1:] == b"\r":
            line = line[:-1]
        if line[:1] in (b" ", b"\t"):
            if not values:
                raise ProtocolError(f"obsolete line folding before any header: {short(line)}")
            values[-1] = b" ".join(x for x in (values[-1], line.strip(b" \t")) if x)
            continue
        colon = line.find(b":")
        if colon <= 0 or not _TOKEN.fullmatch(line, 0, colon):
            raise ProtocolError(f"bad header line: {short(line)}")
        names.append(line[:colon])
        values.append(line[colon + 1 :].strip(b" \t"))
    for name, value in zip(names, values, strict=True):
        if b"\0" in value or b"\r" in value:
            raise ProtocolError(f"bad value for header {name.decode('ascii')!r}: {short(value)}")
    return [(n.decode("ascii"), v.decode("latin-1")) for n, v in zip(names, values, strict=True)]
