"""Inside a tunnel every request's Host must name the CONNECT host, otherwise
400 host_mismatch and nothing is forwarded (no domain fronting)."""
import pytest

from helpers.checks import assert_keyhole_error
from helpers.client import open_tunnel


@pytest.mark.parametrize("host", ["other.test:{port}", "evil.test",
                                  "api.openai.test.evil.test:{port}"])
def test_host_header_must_match_connect_host(start_keyhole, echo, token, host):
    kh = start_keyhole()
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        r = c.request("GET", "/v1/models", host.format(port=echo.port),
                      [("Authorization", f"Bearer {token}")])
    assert_keyhole_error(r, 400, "host_mismatch")
    assert echo.saw_nothing(), echo.describe()
    kh.wait_audit(lambda a: a.get("reason") == "host_mismatch")


def test_second_request_with_other_host_refused(start_keyhole, echo, token):
    """The check applies to every request on the connection, not just the first."""
    kh = start_keyhole()
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        ok = c.request("GET", "/first", f"api.openai.test:{echo.port}",
                       [("Authorization", f"Bearer {token}")])
        assert ok.status == 200
        r = c.request("GET", "/second", f"other.test:{echo.port}",
                      [("Authorization", f"Bearer {token}")])
    assert_keyhole_error(r, 400, "host_mismatch")
    assert [q.target for q in echo.requests] == ["/first"]
