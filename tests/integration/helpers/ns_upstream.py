"""The tests' TLS echo upstream (helpers.upstream.Upstream) as a process of its
own, for a test that runs it inside a network namespace (helpers.engine):
    ns_upstream.py CERT KEY OUT
prints the port it listens on (127.0.0.1 of the namespace), then every 0.1 s
writes OUT (JSON): [{"target", "authorization"}] of the requests received.
Runs until killed."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from helpers.pki import CertPair  # noqa: E402
from helpers.upstream import Upstream  # noqa: E402


def main():
    cert, key, out = sys.argv[1:4]
    srv = Upstream(cert=CertPair(cert, key), name="ns-echo").start()
    print(srv.port, flush=True)
    while True:
        seen = [{"target": r.target, "authorization": r.header("authorization")}
                for r in list(srv.requests)]
        with open(out + ".tmp", "w") as f:
            json.dump(seen, f)
        os.replace(out + ".tmp", out)
        time.sleep(0.1)


if __name__ == "__main__":
    main()
