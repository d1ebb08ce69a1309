"""A mapping whose environment variable is not set in keyhole's environment
answers 503 credential_unavailable (the token is never forwarded as is),
while mappings whose variable is set keep working."""
from helpers.checks import assert_keyhole_error, assert_no_leak, echoed, echoed_headers
from helpers.client import open_tunnel
from helpers.keyhole import GROQ_SECRET, mapping, mint_token


def test_unset_env_gives_503(start_keyhole, make_upstream, echo, token):
    other = make_upstream("server", name="other.test")
    groq = mint_token("groq")
    kh = start_keyhole(
        mappings=[mapping(token), mapping(groq, "GROQ_API_KEY", hosts=["other.test"])],
        env={"OPENAI_API_KEY": None, "GROQ_API_KEY": GROQ_SECRET})

    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        r = c.request("GET", "/v1/models", f"api.openai.test:{echo.port}",
                      [("Authorization", f"Bearer {token}")])
    assert_keyhole_error(r, 503, "credential_unavailable", host="api.openai.test")
    assert echo.saw_nothing(), echo.describe()
    kh.wait_audit(lambda a: a.get("reason") == "credential_unavailable")

    with open_tunnel(kh.port, "other.test", other.port, kh.ca_crt) as c:
        ok = c.request("GET", "/v1/models", f"other.test:{other.port}",
                       [("Authorization", f"Bearer {groq}")])
    assert ok.status == 200
    assert echoed_headers(echoed(ok), "Authorization") == [f"Bearer {GROQ_SECRET}"]
    assert_no_leak(kh, [GROQ_SECRET], [token, groq])
