"""Security headers on every response, failed authentication rate-limited per address, tokens that expire,
and `gongai users revoke` / `reissue`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from api.security import CONTENT_SECURITY_POLICY, FailedAuthLimiter, TooManyFailures
from engine.cli import app as cli
from engine.persistence.db import make_engine, migrate
from engine.services.users import UserStore, auth_cache_from_environment, token_ttl_from_environment
from tests.test_api_support import make_harness


@pytest.fixture(scope="module")
def hz(tmp_path_factory):
    return make_harness(tmp_path_factory.mktemp("security"))


@pytest.mark.parametrize(("who", "url"), [(None, "/healthz"), ("owner1", "/projects"), (None, "/projects"),
                                          ("analyst1", "/analytics/charts/weekly_rates.svg")])
def test_every_response_carries_the_security_headers(hz, who, url: str) -> None:
    r = hz.client.get(url, headers=hz.h(who) if who else {})
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "http" not in csp, "the product's own pages load nothing from elsewhere"
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert csp == CONTENT_SECURITY_POLICY


def test_the_interactive_docs_may_load_their_cdn_assets(hz) -> None:
    csp = hz.client.get("/docs").headers["content-security-policy"]
    assert "cdn.jsdelivr.net" in csp and "frame-ancestors 'none'" in csp


def test_repeated_bad_tokens_lock_the_address_out_then_it_recovers() -> None:
    now = [0.0]
    limiter = FailedAuthLimiter(max_failures=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        limiter.check("10.0.0.1")
        limiter.failed("10.0.0.1")
    with pytest.raises(TooManyFailures) as caught:
        limiter.check("10.0.0.1")
    assert caught.value.status == 429 and 1 <= int(caught.value.headers["Retry-After"]) <= 61
    limiter.check("10.0.0.2")  # other addresses are unaffected
    now[0] = 61.0
    limiter.check("10.0.0.1")


def test_the_limiter_forgets_the_oldest_addresses_first() -> None:
    limiter = FailedAuthLimiter(max_failures=1, window=60, max_addresses=2, clock=lambda: 0.0)
    for address in ("a", "b", "c"):
        limiter.failed(address)
    limiter.check("a")
    with pytest.raises(TooManyFailures):
        limiter.check("c")


def test_over_http_the_twenty_first_bad_token_is_a_429_even_with_a_good_one(tmp_path) -> None:
    h = make_harness(tmp_path)
    for _ in range(20):
        assert h.client.get("/projects", headers={"Authorization": "Bearer guess"}).status_code == 401
    r = h.client.get("/projects", headers={"Authorization": "Bearer guess"})
    assert r.status_code == 429 and "Retry-After" in r.headers and r.json()["status"] == 429
    assert h.client.get("/projects", headers=h.h("owner1")).status_code == 429
    assert h.client.get("/healthz").status_code == 200


def test_tokens_expire_after_their_lifetime_and_reissue_gives_a_new_one(tmp_path) -> None:
    db = make_engine(f"sqlite:///{tmp_path / 'u.db'}")
    migrate(db)
    now = [datetime(2026, 1, 1, tzinfo=timezone.utc)]
    store = UserStore(db, token_ttl=timedelta(days=90), now=lambda: now[0])
    _, token = store.add("owner9", "owner")
    now[0] = datetime.now(timezone.utc) + timedelta(days=89)
    assert store.actor_for_token(token) is not None
    now[0] += timedelta(days=2)
    assert store.actor_for_token(token) is None
    _, fresh = store.reissue("owner9")
    assert store.actor_for_token(fresh) is not None and store.actor_for_token(token) is None
    assert UserStore(db, token_ttl=None, now=lambda: now[0] + timedelta(days=10_000)).actor_for_token(fresh)


def test_a_cached_token_is_refused_once_revoked_elsewhere_after_the_bound_and_at_once_here(tmp_path) -> None:
    """The serving process reuses a token's user for ``cache_for`` (no database read per request): a revocation by
    another process (`gongai users revoke`, another server) is refused once the bound has passed; one made through
    the same store is refused at once; the token's own expiry stays exact while cached."""
    db = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    migrate(db)
    now = [datetime.now(timezone.utc)]
    serving = UserStore(db, token_ttl=timedelta(days=90), now=lambda: now[0], cache_for=timedelta(seconds=5))
    elsewhere = UserStore(db)  # another process: its changes do not reach the serving store's cache
    _, owner = elsewhere.add("owner-c", "owner")
    _, window = elsewhere.add("window-c", "window")
    assert serving.cached_actor(owner) is None, "the no-database answer knows only tokens read before"
    assert serving.actor_for_token(owner).id == "owner-c" and serving.actor_for_token(window).id == "window-c"
    assert serving.cached_actor(owner).id == "owner-c"
    elsewhere.disable("owner-c")
    now[0] += timedelta(seconds=4)
    assert serving.actor_for_token(owner) is not None, "within the bound the cached user is still served"
    now[0] += timedelta(seconds=1)
    assert serving.cached_actor(owner) is None
    assert serving.actor_for_token(owner) is None, "past the bound the revocation takes effect"
    elsewhere.change_role("window-c", "analyst")
    now[0] += timedelta(seconds=5)
    assert serving.actor_for_token(window).role == "analyst", "a role change elsewhere is seen after the bound"
    serving.disable("window-c")
    assert serving.cached_actor(window) is None
    assert serving.actor_for_token(window) is None, "a revocation through the serving store takes effect at once"
    _, fresh = serving.reissue("window-c")  # issued now[0]
    now[0] += timedelta(days=90, seconds=-1)
    assert serving.actor_for_token(fresh) is not None
    now[0] += timedelta(seconds=2)
    assert serving.cached_actor(fresh) is None and serving.actor_for_token(fresh) is None, "expires on time"
    assert serving.actor_for_token("guess") is None


def test_auth_cache_bound_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("GONGAI_AUTH_CACHE_SECONDS", raising=False)
    assert auth_cache_from_environment() == timedelta(seconds=5)
    monkeypatch.setenv("GONGAI_AUTH_CACHE_SECONDS", "0")
    assert auth_cache_from_environment() is None
    for bad in ("soon", "600"):
        monkeypatch.setenv("GONGAI_AUTH_CACHE_SECONDS", bad)
        with pytest.raises(ValueError, match="GONGAI_AUTH_CACHE_SECONDS"):
            auth_cache_from_environment()


def test_token_lifetime_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("GONGAI_TOKEN_TTL_DAYS", raising=False)
    assert token_ttl_from_environment() == timedelta(days=90)
    monkeypatch.setenv("GONGAI_TOKEN_TTL_DAYS", "7")
    assert token_ttl_from_environment() == timedelta(days=7)
    monkeypatch.setenv("GONGAI_TOKEN_TTL_DAYS", "0")
    assert token_ttl_from_environment() is None
    monkeypatch.setenv("GONGAI_TOKEN_TTL_DAYS", "soon")
    with pytest.raises(ValueError, match="GONGAI_TOKEN_TTL_DAYS"):
        token_ttl_from_environment()


def test_cli_revoke_and_reissue(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    added = runner.invoke(cli, ["users", "add", "window7", "--role", "window", "--db", url])
    token = added.stdout.strip().splitlines()[-1]
    store = UserStore(make_engine(url))
    assert store.actor_for_token(token) is not None
    revoked = runner.invoke(cli, ["users", "revoke", "window7", "--db", url])
    assert revoked.exit_code == 0 and store.actor_for_token(token) is None
    assert runner.invoke(cli, ["users", "revoke", "nobody", "--db", url]).exit_code == 2
    reissued = runner.invoke(cli, ["users", "reissue", "window7", "--db", url])
    fresh = reissued.stdout.strip().splitlines()[-1]
    assert reissued.exit_code == 0 and fresh != token and store.actor_for_token(fresh) is not None


def test_behind_a_trusted_proxy_one_clients_bad_tokens_do_not_lock_out_another(tmp_path) -> None:
    """The limit counts per client address: `gongai serve` takes the address from X-Forwarded-For when the
    request comes from a proxy listed in GONGAI_FORWARDED_ALLOW_IPS (default 127.0.0.1), so one bad client
    behind the service centre's reverse proxy cannot lock every user out."""
    import httpx

    from tests.ops_support import ApiProcess

    with ApiProcess(f"sqlite:///{tmp_path / 'proxy.db'}", tmp_path / "serve.log",
                    extra_env={"GONGAI_FORWARDED_ALLOW_IPS": "127.0.0.1"}) as api:
        bad = {"Authorization": "Bearer guess"}
        for _ in range(20):
            assert httpx.get(f"{api.base}/projects", headers={**bad, "X-Forwarded-For": "10.0.0.1"}).status_code == 401
        locked = httpx.get(f"{api.base}/projects", headers={**bad, "X-Forwarded-For": "10.0.0.1"})
        assert locked.status_code == 429
        other = httpx.get(f"{api.base}/projects", headers={**bad, "X-Forwarded-For": "10.0.0.2"})
        assert other.status_code == 401  # another client behind the same proxy is not locked out


def test_a_client_that_is_not_a_trusted_proxy_cannot_escape_the_limit_with_a_forged_header(tmp_path) -> None:
    """With only another host trusted as proxy, X-Forwarded-For from this client is ignored: changing the header
    does not reset its count (the setting reaches uvicorn)."""
    import httpx

    from tests.ops_support import ApiProcess

    with ApiProcess(f"sqlite:///{tmp_path / 'proxy.db'}", tmp_path / "serve.log",
                    extra_env={"GONGAI_FORWARDED_ALLOW_IPS": "192.0.2.10"}) as api:
        bad = {"Authorization": "Bearer guess"}
        for n in range(20):
            forged = {**bad, "X-Forwarded-For": f"10.0.1.{n}"}
            assert httpx.get(f"{api.base}/projects", headers=forged).status_code == 401
        r = httpx.get(f"{api.base}/projects", headers={**bad, "X-Forwarded-For": "10.0.1.99"})
        assert r.status_code == 429
