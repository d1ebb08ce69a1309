"""A known proxy token anywhere in the request head other than a mapping's
match header (another header, the path, the query string) is refused with
403 token_misplaced; nothing is forwarded and the audit path has no query."""
import pytest

from helpers.checks import assert_keyhole_error, assert_no_leak
from helpers.client import open_tunnel

CASES = {
    "x-custom-header": ("/v1/models", [("X-Custom", "{tok}")]),
    "x-custom-bearer": ("/v1/models", [("X-Custom", "Bearer {tok}")]),
    "cookie": ("/v1/models", [("Cookie", "session={tok}")]),
    "query-string": ("/v1/models?key={tok}", []),
    "path-segment": ("/v1/{tok}/models", []),
    "auth-and-other-header": ("/v1/models", [("Authorization", "Bearer {tok}"),
                                             ("X-Forward-Key", "{tok}")]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_token_outside_match_header_refused(start_keyhole, echo, token, secret, case):
    target, headers = CASES[case]
    kh = start_keyhole()
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        r = c.request("GET", target.format(tok=token), f"api.openai.test:{echo.port}",
                      [(n, v.format(tok=token)) for n, v in headers])
    assert_keyhole_error(r, 403, "token_misplaced", host="api.openai.test")
    assert echo.saw_nothing(), echo.describe()
    rec = kh.wait_audit(lambda a: a.get("reason") == "token_misplaced")[0]
    assert "?" not in rec["path"]
    assert_no_leak(kh, [secret], [token])
