"""audit.log is 0600, one JSON object per line with the documented fields, one
record per request (and per refused CONNECT), never a query string, a real
secret or a whole proxy token."""
import os
import stat

from helpers.checks import AUDIT_FIELDS, assert_no_leak, audit_for
from helpers.client import Conn, open_tunnel, send_connect


def test_audit_records(start_keyhole, echo, plain_echo, token, secret):
    kh = start_keyhole()
    host = f"api.openai.test:{echo.port}"
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        ok = c.request("POST", "/v1/chat/completions?api-version=2024&user=alice", host,
                       [("Authorization", f"Bearer {token}")], body=b'{"q": 1}')
        assert ok.status == 200
        plain = c.request("GET", "/v1/models", host)
        assert plain.status == 200
    conn, denied = send_connect(kh.port, "nothere.test:443")
    conn.close()
    assert denied.status == 403
    with Conn.to_proxy(kh.port) as c:
        assert c.request("GET", f"http://plain.test:{plain_echo.port}/p?secret=1",
                         f"plain.test:{plain_echo.port}").status == 200

    recs = kh.wait_audit(n=4)
    st = os.stat(kh.audit_path)
    assert stat.S_IMODE(st.st_mode) == 0o600

    for r in recs:
        missing = [f for f in AUDIT_FIELDS if f not in r]
        assert not missing, f"audit record lacks {missing}: {r}"
        assert r["mode"] in ("connect", "mitm", "http"), r
        assert r["decision"] in ("allow", "deny", "error"), r
        assert isinstance(r["status"], int)
        assert isinstance(r["bytes_in"], int) and r["bytes_in"] >= 0
        assert isinstance(r["bytes_out"], int) and r["bytes_out"] >= 0
        assert isinstance(r["duration_ms"], (int, float)) and r["duration_ms"] >= 0
        assert isinstance(r["swapped"], list)
        assert "?" not in (r["path"] or ""), f"query string in audit path: {r}"
        assert str(r["client"]).startswith("127.0.0.1"), r

    swapped = audit_for(recs, mode="mitm", path="/v1/chat/completions")
    assert len(swapped) == 1, recs
    s = swapped[0]
    assert s["method"] == "POST" and s["status"] == 200 and s["decision"] == "allow"
    assert s["host"] == "api.openai.test" and int(s["port"]) == echo.port
    assert s["swapped"] == ["OPENAI_API_KEY"]
    assert s["bytes_in"] > 0 and s["bytes_out"] > 0

    unswapped = audit_for(recs, mode="mitm", path="/v1/models")
    assert len(unswapped) == 1 and unswapped[0]["swapped"] == []

    refused = audit_for(recs, mode="connect", host="nothere.test")
    assert len(refused) == 1
    assert refused[0]["decision"] == "deny" and refused[0]["reason"] == "host_not_allowed"
    assert refused[0]["status"] == 403

    http = audit_for(recs, mode="http", host="plain.test")
    assert len(http) == 1 and http[0]["path"] == "/p" and http[0]["method"] == "GET"

    assert_no_leak(kh, [secret], [token])


def test_audit_log_survives_restart(start_keyhole, echo):
    """A restart appends to the existing log and keeps it 0600."""
    kh = start_keyhole()
    with open_tunnel(kh.port, "api.openai.test", echo.port, kh.ca_crt) as c:
        assert c.request("GET", "/one", f"api.openai.test:{echo.port}").status == 200
    kh.wait_audit(lambda a: a.get("path") == "/one")
    assert kh.stop() == 0
    kh2 = start_keyhole(home=kh.home)
    with open_tunnel(kh2.port, "api.openai.test", echo.port, kh2.ca_crt) as c:
        assert c.request("GET", "/two", f"api.openai.test:{echo.port}").status == 200
    paths = [r.get("path") for r in kh2.wait_audit(lambda a: a.get("path") in ("/one", "/two"),
                                                   n=2)]
    assert paths == ["/one", "/two"]
    assert stat.S_IMODE(os.stat(kh2.audit_path).st_mode) == 0o600
