"""Python http.client: one keep-alive HTTPS connection, CONNECT via set_tunnel."""
import http.client
import ssl
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

S = common.SPEC
ctx = ssl.create_default_context(cafile=S["ca"])
if S.get("proxy"):
    ph, pp = S["proxy"].rsplit("//", 1)[1].rsplit(":", 1)
    conn = http.client.HTTPSConnection(ph, int(pp), context=ctx, timeout=10)
    conn.set_tunnel(S["host"], S["port"])
else:
    conn = http.client.HTTPSConnection(S["host"], S["port"], context=ctx, timeout=10)


def one():
    conn.request("GET", S["path"], headers=common.headers())
    r = conn.getresponse()
    if r.status != 200:
        r.read()
        raise RuntimeError(f"status {r.status}")
    if S.get("sse"):
        t = common.first_event(iter(lambda: r.read1(4096), b""))
        r.read()   # drain the rest so the connection can be reused
        if t is None:
            raise RuntimeError("no SSE event")
        return t
    r.read()
    return None


common.run(one, conn.close)
