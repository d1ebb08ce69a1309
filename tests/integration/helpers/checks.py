"""Assertions shared by several scenarios."""
import json

from .upstream import received

AUDIT_FIELDS = ("time", "client", "mode", "method", "host", "port", "path", "status",
                "bytes_in", "bytes_out", "duration_ms", "decision", "reason", "swapped")


def assert_keyhole_error(resp, status, reason=None, host=None):
    """resp is keyhole's own error: status, text/plain, close, X-Keyhole-Reason, body."""
    where = f"{resp.status} {resp.headers} {resp.body[:300]!r}"
    assert resp.status == status, where
    if reason is not None:
        assert resp.header("X-Keyhole-Reason") == reason, where
    assert (resp.header("Content-Type") or "").startswith("text/plain"), where
    assert "close" in (resp.header("Connection") or "").lower(), where
    assert resp.text.startswith("keyhole: "), where
    if host is not None:
        assert host in resp.text, where


def echoed(resp_or_body):
    """What the echo upstream received, from its JSON reply (a client.Response,
    a CurlResult or bytes). keyhole scrubs real secrets out of that reply, so
    the request fields come from the upstream's own record of the request;
    the reply as the client saw it stays under "as_seen"."""
    body = getattr(resp_or_body, "body", resp_or_body)
    return _with_record(json.loads(body))


def _with_record(doc):
    rec = received(doc.get("rid")) if isinstance(doc, dict) else None
    if rec is None or "as_seen" in doc:
        return doc
    return dict(doc, method=rec.method, path=rec.target,
                headers=[[n, v] for n, v in rec.headers], as_seen=doc)


def echoed_headers(doc, name):
    return [v for n, v in _with_record(doc)["headers"] if n.lower() == name.lower()]


def assert_no_leak(kh, secret_values, tokens):
    """Neither audit.log nor stderr holds a real secret or more than 12 chars of a token."""
    for label, text in (("audit.log", kh.audit_text()), ("stderr", kh.stderr_text())):
        for s in secret_values:
            assert s not in text, f"real secret leaked into {label}"
        for t in tokens:
            assert t not in text, f"whole proxy token leaked into {label}"
            # the first 12 chars ("keyhole-open") are allowed; nothing of the random part is
            rand = t.rsplit("-", 1)[1]
            assert rand[:8] not in text, f"random part of a proxy token leaked into {label}"


def audit_for(records, **match):
    return [r for r in records if all(r.get(k) == v for k, v in match.items())]
