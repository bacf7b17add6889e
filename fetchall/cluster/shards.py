"""The cluster's plan: URLs → shards by host. Pure (no I/O, no Dask).

Strategy: every URL of a host key goes to one shard, so a host lives on one worker at a time and
the per-host limits (``--per-host``, ``--rate``, cooldowns, robots.txt) hold cluster-wide with no
coordination. `plan` reads hosts one after another, each with its URL count and its URLs (in
input order), and packs whole hosts into shards of at most ``shard_size`` URLs; a host with more
URLs than that is split into chunks of ``shard_size`` that form a *chain*: each chunk names the
shard it must wait for (`Shard.after`), so the chunks of a host never run at the same time. The
plan is a generator: the coordinator takes shards as workers free up, and the URLs of the plan
are never all in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

DEFAULT_SHARD_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Item:
    """One URL of a shard: its row in the coordinator's state store and its text as given."""

    row_id: int
    text: str
    url: str
    """The normalised URL (the store's)."""


@dataclass(frozen=True, slots=True)
class Shard:
    """URLs that one worker fetches in one task."""

    id: int
    hosts: tuple[str, ...]
    items: tuple[Item, ...]
    after: int | None = None
    """The shard (the previous chunk of the same host) that must end before this one starts."""


HostRows = tuple[str, int, Iterable[Item]]
"""A host key, how many URLs it has, and those URLs in input order."""


def plan(hosts: Iterable[HostRows], shard_size: int = DEFAULT_SHARD_SIZE) -> Iterator[Shard]:
    """Shards for ``hosts`` (see module docstring); ids count from 1."""
    if shard_size < 1:
        raise ValueError("shard_size must be 1 or more")
    next_id = 1
    open_hosts: list[str] = []
    open_items: list[Item] = []
    for host, count, items in hosts:
        if count > shard_size:
            after = None
            for chunk in _chunks(items, shard_size):
                yield Shard(next_id, (host,), chunk, after)
                after, next_id = next_id, next_id + 1
            continue
        if open_items and len(open_items) + count > shard_size:
            yield Shard(next_id, tuple(open_hosts), tuple(open_items))
            next_id += 1
            open_hosts, open_items = [], []
        open_hosts.append(host)
        open_items.extend(items)
    if open_items:
        yield Shard(next_id, tuple(open_hosts), tuple(open_items))


def _chunks(items: Iterable[Item], size: int) -> Iterator[tuple[Item, ...]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield tuple(chunk)
            chunk = []
    if chunk:
        yield tuple(chunk)
