"""python3-requests: one Session (urllib3 pool, keep-alive), proxies={"https": ...}."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import requests  # noqa: E402

S = common.SPEC
s = requests.Session()
s.trust_env = False
s.verify = S["ca"]
if S.get("proxy"):
    s.proxies = {"https": S["proxy"]}
u, h = common.url(), common.headers()


def one():
    if S.get("sse"):
        with s.get(u, headers=h, stream=True, timeout=10) as r:
            r.raise_for_status()
            return common.sse_first(r.iter_content(None))
    r = s.get(u, headers=h, timeout=10)
    r.raise_for_status()
    r.content


common.run(one, s.close)
