"""Fixtures for keyhole's black-box integration tests.

Every server binds 127.0.0.1 (or 127.0.0.2) on an ephemeral port; keyhole
itself runs with `tunnel_port: 0` and the test parses the port it logs.
Names like api.openai.test are pinned to loopback with keyhole's `resolve:`.
"""
import os
import shutil
import tempfile

import pytest

from helpers.data import MB, write_pattern_file
from helpers.keyhole import (OPENAI_SECRET, TEST_ALLOWED_PORTS, Keyhole, mapping, mint_token,
                             privsep_on)
from helpers.nginx import NGINX, Nginx
from helpers.pki import make_pki
from helpers.upstream import SilentServer, Upstream

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIG_SIZE = 100 * MB


def pytest_configure(config):
    # scripts/run-tests.sh runs the suites in parallel (pytest-xdist), then the
    # tests marked serial one at a time on their own: they measure the daemon's
    # own memory, which other tests' load on the machine would distort.
    config.addinivalue_line("markers", "serial: measures the daemon itself; runs alone, "
                            "after the parallel tests (scripts/run-tests.sh)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is not None and rep.failed


# ---- session-wide --------------------------------------------------------

@pytest.fixture(scope="session")
def keyhole_bin():
    path = os.environ.get("KEYHOLE_BIN") or os.path.join(REPO, "build", "keyhole")
    if not os.access(path, os.X_OK):
        pytest.fail(f"keyhole binary not found or not executable: {path} "
                    f"(build it with `make`, or set KEYHOLE_BIN)")
    return path


@pytest.fixture(scope="session")
def shared_keyhole_bin(keyhole_bin):
    """A copy of keyhole_bin that every user can run, for tests that run keyhole as
    another user (nobody): the checkout may sit in a directory only its owner can
    enter (a clone in `mktemp -d`, mode 0700), and another user cannot execute a
    binary inside it. The copy is named keyhole (the CLI recognises its daemon by
    that name) in a fresh 0755 directory under /tmp, removed after the session."""
    d = tempfile.mkdtemp(prefix="kh-bin-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        path = os.path.join(d, "keyhole")
        shutil.copyfile(keyhole_bin, path)
        os.chmod(path, 0o755)
        yield path
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    return make_pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="session")
def big_file(tmp_path_factory):
    """(path, sha256, size) of a 100 MB deterministic file, made once per session."""
    d = tmp_path_factory.mktemp("www")
    path = str(d / "big.bin")
    return path, write_pattern_file(path, BIG_SIZE), BIG_SIZE


@pytest.fixture(scope="session")
def nginx(tmp_path_factory, pki, big_file):
    if not os.access(NGINX, os.X_OK):
        pytest.skip(f"{NGINX} not installed (apt-get install nginx-light)")
    srv = Nginx(str(tmp_path_factory.mktemp("nginx")), pki.server,
                os.path.dirname(big_file[0])).start()
    yield srv
    srv.stop()


# ---- per test ------------------------------------------------------------

@pytest.fixture
def token():
    return mint_token("openai")


@pytest.fixture
def secret():
    return OPENAI_SECRET


@pytest.fixture
def make_upstream(pki):
    """Factory: make_upstream(cert="server"|"rogue"|"wrong"|None, host=..., name=...)."""
    started = []

    def _make(cert="server", host="127.0.0.1", name=None):
        pair = getattr(pki, cert) if cert else None
        srv = Upstream(host=host, cert=pair, name=name or f"{cert or 'plain'}@{host}").start()
        started.append(srv)
        return srv

    yield _make
    for srv in started:
        srv.stop()


@pytest.fixture
def echo(make_upstream):
    """TLS echo upstream on 127.0.0.1 with the test server cert (api.openai.test etc.)."""
    return make_upstream("server", name="echo")


@pytest.fixture
def plain_echo(make_upstream):
    """Plain-HTTP echo upstream on 127.0.0.1 (plain.test)."""
    return make_upstream(None, name="plain-echo")


@pytest.fixture
def silent_server():
    srv = SilentServer().start()
    yield srv
    srv.stop()


def default_config(pki):
    return {
        "tunnel_port": 0,
        "upstream_ca_file": pki.ca.cert,
        "resolve": {
            "api.openai.test": "127.0.0.1",
            "other.test": "127.0.0.1",
            "plain.test": "127.0.0.1",
            "denied.test": "127.0.0.2",
            "denied6.test": "::ffff:127.0.0.2",
        },
        "upstream_deny_cidrs": ["127.0.0.2/32"],
        "extra_allowed_hosts": ["other.test", "plain.test", "denied.test", "denied6.test"],
        "allowed_ports": TEST_ALLOWED_PORTS,
    }


@pytest.fixture
def start_keyhole(request, tmp_path, pki, keyhole_bin, token):
    """Factory that starts `keyhole proxy` and waits for /healthz.

    start_keyhole(config={...}, mappings=[...], env={...}, raw_config=None, wait=True,
                  files={name: text}, home=None, wrapper=(), preexec_fn=None)
    config entries override default_config() (a None value removes the key);
    mappings default to one OpenAI mapping for the `token` fixture; env entries
    are added to PATH/HOME/OPENAI_API_KEY (a None value removes the variable);
    files are written into the home before start; home reuses an earlier home;
    wrapper is a command prefix (e.g. setpriv ...) and preexec_fn runs in the child
    before exec (e.g. to lower RLIMIT_NOFILE).
    """
    started = []

    def _start(config=None, *, mappings=None, env=None, raw_config=None, wait=True,
               files=None, home=None, wrapper=(), preexec_fn=None):
        cfg = default_config(pki)
        if not privsep_on():  # KH_TEST_PRIVSEP=0: the whole suite in one process
            cfg["privsep"] = False
        for k, v in (config or {}).items():
            if v is None:
                cfg.pop(k, None)
            else:
                cfg[k] = v
        envs = {"OPENAI_API_KEY": OPENAI_SECRET}
        envs.update(env or {})
        d = tmp_path / f"kh{len(started)}"
        d.mkdir()
        (d / "user").mkdir()
        home = home or str(d / "home")
        os.makedirs(home, mode=0o700, exist_ok=True)
        for name, text in (files or {}).items():
            with open(os.path.join(home, name), "w") as f:
                f.write(text)
        kh = Keyhole(keyhole_bin, home, config=cfg,
                     mappings=[mapping(token)] if mappings is None else mappings,
                     env=envs, raw_config=raw_config, user_home=str(d / "user"),
                     logdir=str(d), wrapper=wrapper, preexec_fn=preexec_fn)
        started.append(kh)
        return kh.start(wait=wait)

    yield _start
    for kh in started:
        kh.kill()
        if _failed(request):
            print(f"--- keyhole {kh.home} stderr (tail) ---\n{kh.stderr_text()[-4000:]}")
            print(f"--- audit.log (tail) ---\n{kh.audit_text()[-4000:]}")
