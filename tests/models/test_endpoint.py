"""The chat client against a real loopback HTTP server through the real openai client."""

from __future__ import annotations

import pytest
from openai_server import OpenAIServer, Reply, by_substring

from unitrl.errors import UserError
from unitrl.models.endpoint import ChatEndpoint, EndpointError


def _msgs(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def _endpoint(srv: OpenAIServer, **kw) -> ChatEndpoint:
    kw.setdefault("backoff_base", 0.01)
    return ChatEndpoint(srv.base_url, "scripted", **kw)


def test_order_concurrency_and_n():
    script = {f"q{i}": [Reply(content=[f"a{i}-0", f"a{i}-1"], delay=0.05)] for i in range(8)}
    with OpenAIServer(by_substring(script)) as srv:
        out = _endpoint(srv, concurrency=8).complete_many([_msgs(f"q{i}") for i in range(8)], n=2)
    assert out == [[f"a{i}-0", f"a{i}-1"] for i in range(8)]
    assert srv.n_requests == 8
    assert srv.requests[0]["n"] == 2 and srv.requests[0]["temperature"] == 0.7


def test_server_ignoring_n_is_asked_again():
    with OpenAIServer(by_substring({"q": [Reply(content="one")]})) as srv:
        out = _endpoint(srv).complete_many([_msgs("q")], n=3)
    assert out == [["one", "one", "one"]]
    assert [r["n"] for r in srv.requests] == [3, 2, 1]


def test_retries_429_and_500_then_success():
    script = {
        "a": [Reply(status=429, retry_after=0.01), Reply(status=500), Reply(content="ok-a")],
        "b": [Reply(status=503), Reply(content="ok-b")],
    }
    with OpenAIServer(by_substring(script)) as srv:
        ep = _endpoint(srv)
        out = ep.complete_many([_msgs("a"), _msgs("b")])
    assert out == [["ok-a"], ["ok-b"]]
    assert srv.n_requests == 5 and ep.stats.retries == 3 and ep.stats.failures == 0


def test_gives_up_after_max_retries():
    with OpenAIServer(by_substring({"x": [Reply(status=500)]})) as srv:
        ep = _endpoint(srv, max_retries=2)
        with pytest.raises(EndpointError):
            ep.complete_many([_msgs("x")])
        assert srv.n_requests == 3
        assert ep.complete_many([_msgs("x")], errors="empty") == [[]]
        assert ep.stats.failures == 2


def test_timeout_is_retried():
    script = {"slow": [Reply(content="late", delay=1.5), Reply(content="fast")]}
    with OpenAIServer(by_substring(script)) as srv:
        ep = _endpoint(srv, timeout=0.5)
        out = ep.complete_many([_msgs("slow")])
    assert out == [["fast"]] and ep.stats.retries == 1


def test_bad_request_not_retried_and_not_found_is_user_error():
    with OpenAIServer(by_substring({"bad": [Reply(status=400)], "nomodel": [Reply(status=404)]})) as srv:
        ep = _endpoint(srv)
        with pytest.raises(EndpointError):
            ep.complete_many([_msgs("bad")])
        assert srv.n_requests == 1
        with pytest.raises(UserError, match="refused model"):
            ep.complete_many([_msgs("nomodel")])


def test_disk_cache_makes_rerun_free(tmp_path):
    with OpenAIServer(by_substring({"q": [Reply(content="first"), Reply(content="second")]})) as srv:
        ep = _endpoint(srv, cache_dir=tmp_path)
        assert ep.complete_many([_msgs("q")]) == [["first"]]
        again = _endpoint(srv, cache_dir=tmp_path)
        assert again.complete_many([_msgs("q")]) == [["first"]]
        assert srv.n_requests == 1 and again.stats.cache_hits == 1
        # Different sampling parameters are a different key.
        assert again.complete_many([_msgs("q")], temperature=0.0) == [["second"]]
        assert srv.n_requests == 2
