"""The redirect/retry policy generator, driven by hand (no engine, no I/O)."""

from __future__ import annotations

import random
from collections.abc import Generator, Sequence

from fetchall.errors import ConnectError, DNSError, HTTPStatusError, RedirectError
from fetchall.http.headers import Headers
from fetchall.policy import (
    Attempt,
    Final,
    Outcome,
    PolicySettings,
    Sleep,
    Step,
    backoff_delay,
    build_request,
    plan,
    retry_after_seconds,
)
from fetchall.urls import Target, parse_url

SETTINGS = PolicySettings(retries=2, retry_backoff=1.0, retry_after_cap=60.0, max_redirects=3)


def run_plan(url: str, outcomes: Sequence[Outcome], settings: PolicySettings = SETTINGS):  # type: ignore[no-untyped-def]
    """Feed outcomes to the plan; return (steps, final)."""
    gen = plan(parse_url(url), settings, rng=random.Random(1), now=lambda: 1_000_000.0)
    steps = []
    replies = iter(outcomes)
    step = next(gen)
    try:
        while True:
            steps.append(step)
            step = gen.send(next(replies) if isinstance(step, Attempt) else None)
    except StopIteration as stop:
        final: Final = stop.value
    return steps, final


def status(code: int, **headers: str) -> Outcome:
    return Outcome(status=code, reason="R", headers=Headers(headers.items()))


def test_success_first_try() -> None:
    steps, final = run_plan("http://a/x", [status(200)])
    assert len(steps) == 1 and final.ok and final.attempts == 1 and final.redirects == 0


def test_retry_statuses_then_success() -> None:
    steps, final = run_plan("http://a/x", [status(503), status(502), status(200)])
    assert [type(s) for s in steps] == [Attempt, Sleep, Attempt, Sleep, Attempt]
    assert final.ok and final.attempts == 3


def test_retries_exhausted_reports_last_status() -> None:
    _, final = run_plan("http://a/x", [status(503)] * 3)
    assert isinstance(final.error, HTTPStatusError) and final.attempts == 3
    assert "503" in str(final.error)


def test_not_retryable_status_and_error() -> None:
    _, final = run_plan("http://a/x", [status(404)])
    assert isinstance(final.error, HTTPStatusError) and final.attempts == 1
    _, final = run_plan("http://a/x", [Outcome(error=DNSError("no"))])
    assert isinstance(final.error, DNSError) and final.attempts == 1


def test_connection_errors_are_retried() -> None:
    _, final = run_plan("http://a/x", [Outcome(error=ConnectError("refused"))] * 3)
    assert isinstance(final.error, ConnectError) and final.attempts == 3


def test_retry_after_seconds_and_date_are_honoured() -> None:
    steps, _ = run_plan("http://a/x", [status(429, **{"Retry-After": "7"}), status(200)])
    assert steps[1] == Sleep(7.0)
    date = "Mon, 12 Jan 1970 13:46:50 GMT"  # 1,000,010 s after the epoch: 10 s from "now"
    steps, _ = run_plan("http://a/x", [status(503, **{"Retry-After": date}), status(200)])
    assert steps[1] == Sleep(10.0)
    steps, _ = run_plan("http://a/x", [status(503, **{"Retry-After": "60"}), status(200)])
    assert steps[1] == Sleep(60.0)  # the cap itself is still obeyed


def test_retry_after_beyond_the_cap_fails_at_once_never_shortened() -> None:
    steps, final = run_plan("http://a/x", [status(503, **{"Retry-After": "999999"})])
    assert [type(s) for s in steps] == [Attempt] and final.attempts == 1
    assert isinstance(final.error, HTTPStatusError)
    message = str(final.error)
    assert "999,999 s" in message and "--retry-after-cap 60 s" in message and "503" in message
    date = "Fri, 31 Dec 9999 23:59:59 GMT"
    _, final = run_plan("http://a/x", [status(429, **{"Retry-After": date})])
    assert final.attempts == 1 and "429" in str(final.error)


def test_backoff_grows_exponentially_with_jitter() -> None:
    rng = random.Random(3)
    for n in range(1, 6):
        delay = backoff_delay(n, 0.5, rng)
        assert 0.5 * 2 ** (n - 1) * 0.5 <= delay < 0.5 * 2 ** (n - 1) * 1.5


def test_retry_after_parsing() -> None:
    assert retry_after_seconds(None, 0) is None
    assert retry_after_seconds("garbage", 0) is None
    assert retry_after_seconds(" 3 ", 0) == 3.0
    assert retry_after_seconds("99999999", 0) == 99999999.0  # never capped here
    assert retry_after_seconds("9" * 5000, 0) == float("inf")
    assert retry_after_seconds("Thu, 01 Jan 1970 00:00:00 GMT", 100) == 0.0


def test_relative_redirects_are_followed() -> None:
    steps, final = run_plan(
        "http://a/dir/x",
        [status(302, Location="../y"), status(301, Location="/z?q=1"), status(200)],
    )
    targets = [s.request.target.url for s in steps if isinstance(s, Attempt)]
    assert targets == ["http://a/dir/x", "http://a/y", "http://a/z?q=1"]
    assert final.ok and final.redirects == 2 and final.request.target.url == "http://a/z?q=1"


def test_redirect_errors() -> None:
    _, final = run_plan("http://a/x", [status(302)])
    assert isinstance(final.error, RedirectError) and "Location" in str(final.error)
    _, final = run_plan("http://a/x", [status(302, Location="/y"), status(302, Location="/x")])
    assert isinstance(final.error, RedirectError) and "loop" in str(final.error)
    _, final = run_plan("http://a/x", [status(302, Location="file:///etc/passwd")])
    assert isinstance(final.error, RedirectError)
    chain = [status(302, Location=f"/r{i}") for i in range(10)]
    _, final = run_plan("http://a/x", chain)
    assert isinstance(final.error, RedirectError) and "too many" in str(final.error)
    assert final.redirects == 3


def test_credentials_dropped_on_cross_origin_redirect() -> None:
    settings = PolicySettings(
        extra_headers=(("Authorization", "Bearer s"), ("Cookie", "c=1"), ("X-Keep", "1"))
    )
    steps, _ = run_plan(
        "http://a/x",
        [status(302, Location="/same"), status(302, Location="http://b/other"), status(200)],
        settings,
    )
    sent = [dict(s.request.headers) for s in steps if isinstance(s, Attempt)]
    assert sent[0]["Authorization"] == "Bearer s" and sent[1]["Cookie"] == "c=1"
    assert "Authorization" not in sent[2] and "Cookie" not in sent[2]
    assert sent[2]["X-Keep"] == "1" and sent[2]["Host"] == "b"


def test_user_headers_override_defaults() -> None:
    settings = PolicySettings(extra_headers=(("user-agent", "me"), ("Accept", "text/html")))
    request = build_request(parse_url("http://a:8080/"), settings)
    names = [k.lower() for k, _ in request.headers]
    assert names.count("user-agent") == 1 and names.count("accept") == 1
    assert dict(request.headers)["Host"] == "a:8080"


class QueueNewOrigins:
    """A pacer that sends every hop to another origin back through admission."""

    def __init__(self) -> None:
        self.reserved: list[str] = []
        self.observed: list[tuple[str, int | None, float | None, float | None]] = []

    def reserve(self, target: Target) -> float:
        self.reserved.append(target.url)
        return 0.0

    def observe(
        self,
        target: Target,
        status: int | None,
        retry_after: float | None,
        sent: float | None = None,
    ) -> None:
        self.observed.append((target.url, status, retry_after, sent))

    def must_queue(self, target: Target) -> bool:
        return target.host != "a"


def drive(gen: Generator[Step, Outcome | None, Final], outcomes: Sequence[Outcome]) -> Final:
    replies = iter(outcomes)
    step = next(gen)
    try:
        while True:
            step = gen.send(next(replies) if isinstance(step, Attempt) else None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def test_the_pacer_hears_every_attempt_with_its_send_time() -> None:
    """What the host answered and when each request left (`Outcome.sent`) reach the pacer after
    every attempt; a request that never left (a connect error) reports no send time."""
    pacer = QueueNewOrigins()
    settings = PolicySettings(retries=2, retry_backoff=0.0)
    lost = Outcome(error=ConnectError("refused"))
    busy = Outcome(status=503, reason="R", headers=Headers([("Retry-After", "1")]), sent=10.5)
    ok = Outcome(status=200, reason="OK", sent=12.0)
    final = drive(plan(parse_url("http://a/x"), settings, pacer=pacer), [lost, busy, ok])
    assert final.ok and final.attempts == 3
    assert pacer.observed == [
        ("http://a/x", None, None, None),
        ("http://a/x", 503, 1.0, 10.5),
        ("http://a/x", 200, None, 12.0),
    ]


def test_a_hop_to_a_new_origin_is_handed_back_and_resumed() -> None:
    settings = PolicySettings(extra_headers=(("Authorization", "Bearer s"),))
    pacer = QueueNewOrigins()
    first = plan(parse_url("http://a/x"), settings, pacer=pacer)
    final = drive(first, [status(302, Location="/y"), status(301, Location="http://b/z")])
    assert final.handoff is not None and not final.ok and final.error is None
    assert final.request.target.url == "http://b/z" and final.redirects == 2
    assert final.attempts == 2 and "Authorization" not in dict(final.request.headers)
    assert pacer.reserved == ["http://a/y"]  # the same-origin hop was paced, not queued
    step = next(plan(final.request.target, settings, pacer=pacer, resume=final.handoff))
    assert isinstance(step, Attempt) and step.number == 3  # admitted: no second booking
    assert "Authorization" not in dict(step.request.headers)  # still another origin
    with_loop = drive(
        plan(final.request.target, settings, pacer=pacer, resume=final.handoff),
        [status(302, Location="http://a/x")],
    )  # back to where it started: a loop, as within one plan
    assert isinstance(with_loop.error, RedirectError) and "loop" in str(with_loop.error)
    done = drive(
        plan(final.request.target, settings, pacer=pacer, resume=final.handoff), [status(200)]
    )
    assert done.ok and done.attempts == 3 and done.redirects == 2
    assert pacer.reserved == ["http://a/y"]


def test_a_hop_back_to_the_first_origin_gets_its_credentials_again() -> None:
    settings = PolicySettings(extra_headers=(("Authorization", "Bearer s"),))
    pacer = QueueNewOrigins()
    final = drive(
        plan(parse_url("http://a/x"), settings, pacer=pacer), [status(302, Location="http://b/1")]
    )
    assert final.handoff is not None
    gen = plan(final.request.target, settings, pacer=pacer, resume=final.handoff)
    step = next(gen)
    step = gen.send(status(302, Location="http://a/back"))
    assert isinstance(step, Attempt) and step.request.target.url == "http://a/back"
    assert dict(step.request.headers)["Authorization"] == "Bearer s"
