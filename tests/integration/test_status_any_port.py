"""`keyhole status` with `tunnel_port: 0` (any free port, what every test
here runs with): the daemon is listening on the port it took, and status
must probe that one, not port 0, and say so ("listening yes")."""
import json
import re

from test_privsep_processes import status


def test_status_probes_the_port_the_daemon_took(start_keyhole):
    kh = start_keyhole()
    assert kh.config["tunnel_port"] == 0
    text = status(kh)
    assert re.search(r"listening +yes", text), text
    assert re.search(rf"tunnel port +0 \(any free port: {kh.port} now\)", text), text
    doc = json.loads(status(kh, "--json"))
    assert doc["listening"] is True and doc["tunnel_port"] == 0, doc
