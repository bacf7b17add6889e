"""robots.txt rules for one origin (RFC 9309). Pure: parse a body, answer "may this URL be
fetched, and if not, by which rule", give the Crawl-delay, and map how the robots.txt request
ended to allow-all or disallow-all (§2.3.1). Fetching robots.txt is an ordinary job of the
engine; caching and pacing live in `fetchall.politeness`.

Strategy: protego (Scrapy's maintained parser) does the matching — longest match wins, Allow wins
a tie, ``*`` and ``$`` over path *and* query, percent-encoding normalised, wildcards matched
without backtracking; it scored 50/53 on an RFC 9309 table where ``urllib.robotparser`` scored 38
(../shared/research/crawl.md; our own table is tests/test_robots.py). Three shims close the rest:
the body is cut at 500 KiB (§2.5) and decoded as UTF-8 with the BOM stripped and bad bytes
replaced; every ``User-agent`` value is cut to its product token (``FooBot/1.0`` names
``FooBot``); and a group named neither our product token (case-insensitively) nor ``*`` is
renamed to a name no token can contain, so protego's prefix matching (a ``fetch`` group applying
to ``fetchall``) cannot pick a group that RFC 9309's exact match would not. protego does not say
which rule decided; `RobotsRules.check` asks its rule set (internal names, pinned version) so the
report can name the rule, and falls back to a generic message if that ever changes.
"""

from __future__ import annotations

import re

from protego import Protego

from fetchall.errors import FetchError, RedirectError
from fetchall.urls import Target

BODY_LIMIT = 500 * 1024
"""Bytes of robots.txt parsed at most (RFC 9309 §2.5: at least 500 KiB)."""
MAX_CRAWL_DELAY = 60.0
"""Longest Crawl-delay obeyed, in seconds (a longer one is cut to this, with a warning)."""

_TOKEN_RE = re.compile(r"[A-Za-z_-]+")
_UA_LINE_RE = re.compile(r"(?im)^([ \t]*user[ _-]?agent(?:[ \t]*:[ \t]*|[ \t]+))([^\r\n#]*)")
_OTHER_GROUP = "0"  # a group name no product token ([A-Za-z_-]+) contains


def product_token(user_agent: str) -> str:
    """The robots.txt name of a User-Agent: the leading letters, ``_`` and ``-`` of its first
    word, lower-cased (``fetchall/0.1.0`` → ``fetchall``; "" if there are none)."""
    words = user_agent.split()
    match = _TOKEN_RE.match(words[0]) if words else None
    return match.group().lower() if match else ""


class RobotsRules:
    """What one origin's robots.txt says to one product token."""

    __slots__ = ("_blocked", "_parser", "_token", "crawl_delay", "size")

    def __init__(
        self,
        parser: Protego | None,
        token: str,
        *,
        blocked: str | None = None,
        crawl_delay: float | None = None,
        size: int = 0,
    ) -> None:
        self._parser = parser
        self._token = token
        self._blocked = blocked
        self.crawl_delay = crawl_delay
        """Seconds between two requests asked for by ``Crawl-delay`` (None if not given)."""
        self.size = size
        """Bytes of robots.txt text behind these rules (a cache's cost measure)."""

    @classmethod
    def parse(cls, body: bytes, token: str) -> RobotsRules:
        """The rules of a robots.txt body for ``token`` (see `product_token`)."""
        text = body[:BODY_LIMIT].decode("utf-8-sig", errors="replace")
        text = _UA_LINE_RE.sub(lambda m: m.group(1) + _group_name(m.group(2), token), text)
        parser = Protego.parse(text)
        delay = parser.crawl_delay(token)
        return cls(parser, token, crawl_delay=delay, size=len(text))

    @classmethod
    def allow_all(cls) -> RobotsRules:
        """No rules apply (no robots.txt, or it is unavailable)."""
        return cls(None, "")

    @classmethod
    def disallow_all(cls, reason: str) -> RobotsRules:
        """Nothing may be fetched; ``reason`` is the report's message for every URL."""
        return cls(None, "", blocked=reason)

    def check(self, target: Target) -> str | None:
        """None if ``target`` may be fetched, else why not (``disallowed by robots.txt:
        Disallow: /private/``)."""
        if self._blocked is not None:
            return self._blocked
        parser = self._parser
        if parser is None or parser.can_fetch(target.url, self._token):
            return None
        return f"disallowed by robots.txt: {self._rule(target.url)}"

    def _rule(self, url: str) -> str:
        """The rule that disallowed ``url``, as written in robots.txt (protego internals)."""
        try:
            from protego._utils import _quote_path

            rule_set = self._parser._get_matching_rule_set(self._token)  # type: ignore[union-attr]
            path = _quote_path(url)
            for rule in rule_set._rules:  # type: ignore[union-attr]
                if rule.value.match(path):
                    return f"{rule.field.capitalize()}: {rule.value._pattern}"
        except (AttributeError, ImportError, TypeError):  # protego changed: a generic message
            pass
        return f"a Disallow rule for {self._token or '*'}"


def _group_name(value: str, token: str) -> str:
    """A ``User-agent`` value as protego should see it (see module docstring)."""
    value = value.strip()
    if value == "*":
        return value
    match = _TOKEN_RE.match(value)
    name = match.group() if match else ""
    return name if name and name.lower() == token else _OTHER_GROUP


def rules_for_fetch(
    status: int | None, error: FetchError | None, body: bytes | None, token: str
) -> RobotsRules:
    """The rules implied by how the robots.txt request ended (RFC 9309 §2.3.1): a 2xx body is
    parsed; 4xx (but 429), an unfollowable redirect or too many redirects mean "no robots.txt"
    (allow all); 5xx, 429 and network errors mean "unreachable" (disallow all for the run)."""
    if error is None and body is not None:
        return RobotsRules.parse(body, token)
    if isinstance(error, RedirectError):
        return RobotsRules.allow_all()
    if status is not None and status != 429 and 300 <= status < 500:
        return RobotsRules.allow_all()
    if status is not None and (status == 429 or status >= 500):
        why = f"HTTP {status}"
    else:
        why = f"{error.error_type}: {error}" if error is not None else "no response"
    return RobotsRules.disallow_all(f"robots.txt unreachable ({why}): the host is disallowed")
