"""RFC 9309 cases for robots.txt matching, shared by the table tests and the parser comparison.

Each case: an id, the robots.txt text, the URL's path (and query), and whether ``foobot`` may
fetch it. Sections are RFC 9309's (§2.2.1 user-agent groups, §2.2.2 rules and percent-encoding,
§2.2.3 special characters, §2.5 limits, §5 examples); a few are the behaviour the RFC leaves to
the crawler and Google's reference parser settles (unknown lines inside a group).
"""

from __future__ import annotations

TOKEN = "foobot"

RFC5_1 = """\
User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot

EOF
"""

_PAD = "# " + "x" * 1000 + "\n"

CASES: list[tuple[str, str, str, bool]] = [
    # §5.1 and §5.2: the RFC's own examples
    ("rfc5.1-foobot-root", RFC5_1, "/", False),
    ("rfc5.1-foobot-page", RFC5_1, "/example/page.html", True),
    ("rfc5.1-foobot-gif", RFC5_1, "/example/allowed.gif", True),
    ("rfc5.1-foobot-other", RFC5_1, "/publications/", False),
    ("rfc5.2-longest-allow", "User-Agent: foobot\nAllow: /example/page/\n"
     "Disallow: /example/page/disallowed.gif\n", "/example/page/", True),
    ("rfc5.2-longest-disallow", "User-Agent: foobot\nAllow: /example/page/\n"
     "Disallow: /example/page/disallowed.gif\n", "/example/page/disallowed.gif", False),
    # §2.2.2: the most specific (longest) match wins, whatever the order; Allow wins a tie
    ("longest-allow-after-disallow", "User-agent: *\nDisallow: /\nAllow: /public\n",
     "/public/x", True),
    ("longest-disallow-after-allow", "User-agent: *\nAllow: /\nDisallow: /private\n",
     "/private/x", False),
    ("longest-wildcard-counts-octets", "User-agent: *\nAllow: /a/*/c\nDisallow: /a/b\n",
     "/a/b/c", True),
    ("tie-allow-wins", "User-agent: *\nDisallow: /page\nAllow: /page\n", "/page", True),
    ("tie-allow-wins-reversed", "User-agent: *\nAllow: /page\nDisallow: /page\n", "/page", True),
    ("paths-are-case-sensitive", "User-agent: *\nDisallow: /Private\n", "/private", True),
    ("empty-disallow-allows", "User-agent: foobot\nDisallow:\n", "/anything", True),
    ("robots-txt-itself-allowed", "User-agent: *\nDisallow: /\n", "/robots.txt", True),
    # §2.2.3: "*" and "$", over path and query
    ("star-in-middle", "User-agent: *\nDisallow: /*.php\n", "/dir/index.php", False),
    ("star-needs-the-rest", "User-agent: *\nDisallow: /*.php\n", "/php", True),
    ("star-matches-query", "User-agent: *\nDisallow: /*.php\n", "/x?a=b.php", False),
    ("star-query-param", "User-agent: *\nDisallow: /*?sid=\n", "/page?sid=1", False),
    ("star-query-param-absent", "User-agent: *\nDisallow: /*?sid=\n", "/page", True),
    ("query-prefix", "User-agent: *\nDisallow: /search?q=\n", "/search?q=x", False),
    ("trailing-star-ignored", "User-agent: *\nDisallow: /a*\n", "/abc", False),
    ("dollar-end", "User-agent: *\nDisallow: /*.gif$\n", "/img/a.gif", False),
    ("dollar-end-query-follows", "User-agent: *\nDisallow: /*.gif$\n", "/img/a.gif?x=1", True),
    ("dollar-exact", "User-agent: *\nDisallow: /fish$\n", "/fish", False),
    ("dollar-exact-longer", "User-agent: *\nDisallow: /fish$\n", "/fishheads", True),
    ("allow-root-only", "User-agent: *\nAllow: /$\nDisallow: /\n", "/", True),
    ("allow-root-only-other", "User-agent: *\nAllow: /$\nDisallow: /\n", "/x", False),
    # §2.2.2 figure 4 and §2.2.3 figure 6: percent-encoding
    ("pct-unreserved-decoded-in-rule", "User-agent: *\nDisallow: /foo/bar/%62%61%7A\n",
     "/foo/bar/baz", False),
    ("pct-unreserved-decoded-in-url", "User-agent: *\nDisallow: /foo/bar/baz\n",
     "/foo/bar/%62%61%7A", False),
    ("pct-utf8-rule", "User-agent: *\nDisallow: /foo/bar/\u30c4\n", "/foo/bar/%E3%83%84", False),
    ("pct-utf8-both", "User-agent: *\nDisallow: /foo/bar/%E3%83%84\n", "/foo/bar/%E3%83%84",
     False),
    ("pct-hex-case", "User-agent: *\nDisallow: /a%2fb\n", "/a%2Fb", False),
    ("pct-reserved-slash-kept", "User-agent: *\nDisallow: /a%2Fb\n", "/a/b", True),
    ("pct-tilde", "User-agent: *\nDisallow: /%7ejoe\n", "/~joe", False),
    ("pct-2a-is-a-literal-star", "User-agent: *\nDisallow: /\n"
     "Allow: /path/file-with-a-%2A.html\n", "/path/file-with-a-*.html", True),
    ("pct-24-is-a-literal-dollar", "User-agent: *\nDisallow: /path/foo-%24\n", "/path/foo-$",
     False),
    # §2.2.1: groups by product token, case-insensitive, exact, merged; "*" as fallback
    ("ua-case-insensitive", "User-agent: FOOBOT\nDisallow: /x\n", "/x", False),
    ("ua-with-version", "User-agent: FooBot/1.0\nDisallow: /x\n", "/x", False),
    ("ua-prefix-is-another-bot", "User-agent: foo\nDisallow: /x\n", "/x", True),
    ("ua-longer-is-another-bot", "User-agent: foobotx\nDisallow: /x\n", "/x", True),
    ("ua-specific-beats-star", "User-agent: *\nDisallow: /\n\nUser-agent: foobot\nAllow: /\n",
     "/x", True),
    ("ua-specific-only", "User-agent: *\nAllow: /\n\nUser-agent: foobot\nDisallow: /x\n",
     "/x", False),
    ("ua-star-fallback", "User-agent: barbot\nDisallow: /\n\nUser-agent: *\nDisallow: /x\n",
     "/y", True),
    ("ua-other-bot-ignored", "User-agent: barbot\nDisallow: /\n", "/x", True),
    ("ua-groups-merged-a", "User-agent: foobot\nDisallow: /a\n\nUser-agent: barbot\n"
     "Disallow: /\n\nUser-agent: foobot\nDisallow: /b\n", "/a", False),
    ("ua-groups-merged-b", "User-agent: foobot\nDisallow: /a\n\nUser-agent: barbot\n"
     "Disallow: /\n\nUser-agent: foobot\nDisallow: /b\n", "/b", False),
    ("ua-groups-merged-c", "User-agent: foobot\nDisallow: /a\n\nUser-agent: barbot\n"
     "Disallow: /\n\nUser-agent: foobot\nDisallow: /b\n", "/c", True),
    ("ua-several-lines-one-group", "User-agent: barbot\nUser-agent: foobot\nDisallow: /x\n",
     "/x", False),
    ("ua-empty-own-group", "User-agent: *\nDisallow: /\n\nUser-agent: foobot\n", "/x", True),
    ("rules-outside-groups-ignored", "Disallow: /\n", "/x", True),
    ("sitemap-inside-group", "User-agent: foobot\nSitemap: http://a/s.xml\nDisallow: /x\n",
     "/x", False),
    ("unknown-line-inside-group", "User-agent: foobot\nFoo: bar\nDisallow: /x\n", "/x", False),
    # syntax: comments, line endings, BOM, whitespace
    ("comments", "User-agent: foobot # me\nDisallow: /x # not /y\n", "/x", False),
    ("comment-not-rule", "User-agent: foobot # me\nDisallow: /x # not /y\n", "/y", True),
    ("crlf", "User-agent: foobot\r\nDisallow: /x\r\n", "/x", False),
    ("cr-only", "User-agent: foobot\rDisallow: /x\r", "/x", False),
    ("bom", "\ufeffUser-agent: foobot\nDisallow: /x\n", "/x", False),
    ("whitespace", "  User-agent :  foobot  \n\tDisallow :  /x  \n", "/x", False),
    ("empty-file", "", "/x", True),
    # §2.5: at least 500 KiB are parsed; beyond that, nothing
    ("rule-at-400-kib", _PAD * 400 + "User-agent: foobot\nDisallow: /x\n", "/x", False),
    ("rule-beyond-500-kib", _PAD * 520 + "User-agent: foobot\nDisallow: /x\n", "/x", True),
]  # fmt: skip

CRAWL_DELAYS: list[tuple[str, str, float | None]] = [
    ("own-group", "User-agent: foobot\nCrawl-delay: 2.5\n", 2.5),
    ("star-group", "User-agent: *\nCrawl-delay: 3\n", 3.0),
    ("own-group-without", "User-agent: *\nCrawl-delay: 3\n\nUser-agent: foobot\nDisallow: /x\n",
     None),
    ("garbage", "User-agent: foobot\nCrawl-delay: soon\n", None),
    ("negative", "User-agent: foobot\nCrawl-delay: -1\n", None),
    ("none", "User-agent: foobot\nDisallow: /x\n", None),
]  # fmt: skip
