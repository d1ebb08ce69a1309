"""limits.max_header_bytes and limits.max_headers bound a request head:
over the byte limit -> 431, too many fields -> 400/431, nothing forwarded;
a head just inside both limits still passes."""
import time

from helpers.checks import assert_keyhole_error, echoed, echoed_headers
from helpers.client import build_request, open_tunnel

LIMITS = {"limits": {"max_header_bytes": 4096, "max_headers": 20}}


def _tunnel(kh, echo):
    return open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt)


def test_head_inside_limits_passes(start_keyhole, echo, token, secret):
    kh = start_keyhole(LIMITS)
    headers = [("Authorization", f"Bearer {token}")]
    headers += [(f"X-Fill-{i:02d}", "v" * 150) for i in range(15)]   # ~2.6 KB, 17 fields
    with _tunnel(kh, echo) as c:
        r = c.request("GET", "/ok", f"api.openai.test:{echo.port}", headers)
    assert r.status == 200
    doc = echoed(r)
    assert echoed_headers(doc, "Authorization") == [f"Bearer {secret}"]
    assert len(echoed_headers(doc, "X-Fill-14")) == 1


def test_huge_head_gets_431(start_keyhole, echo):
    kh = start_keyhole(LIMITS)
    with _tunnel(kh, echo) as c:
        c.send(build_request("GET", "/big", f"api.openai.test:{echo.port}",
                             [("X-Big", "b" * 8000)]))
        r = c.read_response(timeout=5)
    assert_keyhole_error(r, 431, "header_too_large")
    assert echo.saw_nothing(), echo.describe()


def test_huge_head_sent_slowly_gets_431(start_keyhole, echo):
    """The byte limit holds when the head arrives in small pieces."""
    kh = start_keyhole(LIMITS)
    raw = build_request("GET", "/big", f"api.openai.test:{echo.port}", [("X-Big", "b" * 8000)])
    with _tunnel(kh, echo) as c:
        for i in range(0, 6000, 1000):          # stop before the end: no blank line yet
            c.send(raw[i:i + 1000])
            time.sleep(0.02)
        r = c.read_response(timeout=5)
    assert_keyhole_error(r, 431, "header_too_large")
    assert echo.saw_nothing()


def test_too_many_headers_rejected(start_keyhole, echo):
    kh = start_keyhole(LIMITS)
    with _tunnel(kh, echo) as c:
        c.send(build_request("GET", "/many", f"api.openai.test:{echo.port}",
                             [(f"X-H-{i}", "1") for i in range(40)]))   # ~500 bytes, 41 fields
        r = c.read_response(timeout=5)
    assert r.status in (400, 431), (r.status, r.text)
    assert_keyhole_error(r, r.status)
    assert echo.saw_nothing()
