"""Idle upstream connections are pooled per worker and reused by later client
connections to the same destination, never when that could be wrong.

Each test runs keyhole with one worker so that every client connection sees
the same pool. The upstream counts the TCP connections it accepted: that
count is what pooling changes."""
import http.client
import json
import os
import signal
import time

from helpers.checks import echoed_headers
from helpers.client import client_context, curl

PARK_WAIT = 0.8   # comfortably longer than KH_UPSTREAM_PARK_MS (250 ms)


def one_worker(start_keyhole, **cfg):
    return start_keyhole(config={"workers": 1, **cfg})


def tunnel(kh, echo):
    conn = http.client.HTTPSConnection("127.0.0.1", kh.port, timeout=10,
                                       context=client_context(kh.ca_crt))
    conn.set_tunnel("api.openai.test", echo.port)
    return conn


def get(conn, token, path):
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read())


def curl_get(kh, echo, token, path):
    r = curl(f"https://api.openai.test:{echo.port}{path}", proxy=kh.proxy_url,
             cacert=kh.ca_crt, headers=[f"Authorization: Bearer {token}"])
    assert r.rc == 0, r.stderr
    assert r.status == 200, r.body
    return r.json()


def test_new_tunnels_reuse_one_upstream_connection(start_keyhole, echo, token, secret):
    kh = one_worker(start_keyhole)
    for i in range(5):
        doc = curl_get(kh, echo, token, f"/pool/{i}")
        assert echoed_headers(doc, "Authorization") == [f"Bearer {secret}"], f"request {i}"
    reqs = echo.complete_requests()
    assert [r.target for r in reqs] == [f"/pool/{i}" for i in range(5)]
    assert echo.connections == 1, "each CONNECT dialed its own upstream connection"
    assert len({r.conn_id for r in reqs}) == 1


def test_idle_client_hands_its_upstream_to_the_next_client(start_keyhole, echo, token,
                                                           secret):
    kh = one_worker(start_keyhole)
    a, b = tunnel(kh, echo), tunnel(kh, echo)
    try:
        assert get(a, token, "/a1")[0] == 200
        time.sleep(PARK_WAIT)            # a is idle: its upstream goes to the pool
        status, doc = get(b, token, "/b1")
        assert status == 200
        assert echoed_headers(doc, "Authorization") == [f"Bearer {secret}"]
        assert echo.connections == 1, "b did not take a's parked upstream connection"
        # b holds the upstream now (not idle long enough to park it), so a,
        # still open, has to dial a new one, and keeps working.
        assert get(a, token, "/a2")[0] == 200
        assert echo.connections == 2
        # a long pause on the same tunnel: its request still goes through.
        time.sleep(PARK_WAIT)
        assert get(a, token, "/a3")[0] == 200
    finally:
        a.close()
        b.close()
    assert [r.target for r in echo.complete_requests()] == ["/a1", "/b1", "/a2", "/a3"]


def test_upstream_closing_a_parked_connection_is_noticed(start_keyhole, echo, token):
    echo.keepalive_timeout = 0.3          # the server drops idle connections quickly
    kh = one_worker(start_keyhole)
    curl_get(kh, echo, token, "/first")
    time.sleep(1.0)                       # parked, then closed by the server
    curl_get(kh, echo, token, "/second")  # must not be sent on the dead connection
    assert echo.connections == 2
    assert [r.target for r in echo.complete_requests()] == ["/first", "/second"]
    assert not [a for a in kh.audit() if a.get("decision") == "error"]


def test_reload_starts_a_new_pool_generation(start_keyhole, echo, token):
    kh = one_worker(start_keyhole)
    curl_get(kh, echo, token, "/before")
    os.kill(kh.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "reload: ok" not in kh.stderr_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "reload: ok" in kh.stderr_text()
    # A connection dialed (deny list, pins) under the old policy is not reused.
    curl_get(kh, echo, token, "/after")
    assert echo.connections == 2


def test_close_delimited_response_is_not_pooled(start_keyhole, echo, token):
    kh = one_worker(start_keyhole)
    r = curl(f"https://api.openai.test:{echo.port}/bytes?n=1000&framing=close",
             proxy=kh.proxy_url, cacert=kh.ca_crt, headers=[f"Authorization: Bearer {token}"])
    assert r.rc == 0 and r.status == 200 and len(r.body) == 1000, r.stderr
    curl_get(kh, echo, token, "/next")
    assert echo.connections == 2


def test_other_destination_gets_its_own_connection(start_keyhole, echo, make_upstream,
                                                   token):
    other = make_upstream()
    kh = one_worker(start_keyhole)
    curl_get(kh, echo, token, "/one")
    r = curl(f"https://other.test:{other.port}/two", proxy=kh.proxy_url, cacert=kh.ca_crt)
    assert r.rc == 0 and r.status == 200, r.stderr
    assert echo.connections == 1 and other.connections == 1
    assert [x.target for x in other.complete_requests()] == ["/two"]
