"""python3-httpx (sync Client, keep-alive pool), proxies=... for the CONNECT tunnel."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import httpx  # noqa: E402

S = common.SPEC
kw = {"verify": S["ca"], "timeout": 10, "trust_env": False}
if S.get("proxy"):
    kw["proxies"] = {"https://": S["proxy"]}
c = httpx.Client(**kw)
u, h = common.url(), common.headers()


def one():
    if S.get("sse"):
        with c.stream("GET", u, headers=h) as r:
            r.raise_for_status()
            return common.sse_first(r.iter_raw())
    r = c.get(u, headers=h)
    r.raise_for_status()
    r.content


common.run(one, c.close)
