"""The processes a benchmark run starts: a test PKI, the nginx upstream, and the
proxies under comparison (keyhole, mitmproxy, Squid ssl-bump).

Everything binds 127.0.0.1 and lives in one private temporary directory. Each
process is started in its own session (process group) with PR_SET_PDEATHSIG,
tracked in PROCS, and killed by process group id on exit; nothing is ever
killed by name. Host names (api.bench.test, m<N>.bench.test) never reach DNS:
keyhole gets `resolve:` pins, Squid a private `hosts_file`, and mitmproxy a
private /etc/hosts bind-mounted in its own mount namespace (unshare -m).
"""
import ctypes
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time

NGINX = "/usr/sbin/nginx"
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"
SQUID = "/usr/sbin/squid"
CERTGEN = "/usr/lib/squid/security_file_certgen"
DOMAIN = "bench.test"
API_HOST = "api." + DOMAIN
LARGE_SIZE = 256 << 20
SSE_EVENTS = 10          # events per /sse response
SSE_GAP = "0.01"         # seconds between events (nginx echo_sleep)
SMALL_BODY = "hello from the bench upstream\n"

PROCS = []               # every Popen we started, killed by kill_all()


class Skip(Exception):
    """A peer cannot run here; the message says why."""


# ---- processes ----------------------------------------------------------

def _child_setup():
    """Own process group; die with the orchestrator even if it is SIGKILLed."""
    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def spawn(argv, log_path, env=None, stdout=None):
    log = open(log_path, "ab")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout or log, stderr=log,
                         env=env, preexec_fn=_child_setup)
    log.close()
    PROCS.append(p)
    return p


def stop(p, grace=2.0):
    """SIGTERM to the process group, SIGKILL after grace seconds."""
    if p is None:
        return
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)  # helpers (squid's certgen) share the group
    except ProcessLookupError:
        pass
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        pass
    if p in PROCS:
        PROCS.remove(p)


def kill_all():
    for p in list(PROCS):
        stop(p, grace=0.5)


def nofile_limit():
    """The descriptor limit every child inherits (the hard limit, once raised)."""
    import resource
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} during startup")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} not listening on 127.0.0.1:{port} after {timeout}s")


def tree_pids(root):
    """root and all its descendants (from /proc/*/stat)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def rss_kib(root):
    """VmRSS of a process plus its descendants, KiB."""
    total = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def run(argv, timeout=60, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def first_line(argv):
    try:
        r = run(argv, timeout=20)
        text = (r.stdout or r.stderr).strip()
        return text.splitlines()[0] if text else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


# ---- PKI ----------------------------------------------------------------

def _openssl(*args, cwd):
    r = run(["openssl", *args], cwd=cwd)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {r.stderr.strip()}")


def make_ca(d, name, cn):
    """EC P-256 CA (the key type keyhole uses), so every proxy signs alike."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "30", "-sha256",
             "-subj", f"/CN={cn}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash", cwd=d)
    return os.path.join(d, f"{name}.crt"), os.path.join(d, f"{name}.key")


def make_pki(d):
    os.makedirs(d, exist_ok=True)
    ca_crt, _ = make_ca(d, "upstream-ca", "keyhole bench upstream CA")
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid,issuer\n"
                f"subjectAltName=DNS:{API_HOST},DNS:*.{DOMAIN},DNS:localhost,IP:127.0.0.1\n")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={API_HOST}", cwd=d)
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "upstream-ca.crt", "-CAkey",
             "upstream-ca.key", "-CAcreateserial", "-days", "30", "-sha256",
             "-extfile", "server.ext", "-out", "server.crt", cwd=d)
    return {"ca": ca_crt, "cert": os.path.join(d, "server.crt"),
            "key": os.path.join(d, "server.key"), "dir": d}


def write_hosts(path, names):
    with open(path, "w") as f:
        f.write("127.0.0.1 localhost\n")
        for n in names:
            f.write(f"127.0.0.1 {n}\n")
    os.chmod(path, 0o644)


# ---- nginx upstream -----------------------------------------------------

def _sse_location():
    lines = []
    for i in range(SSE_EVENTS):
        data = json.dumps({"id": i, "delta": "token " * 8}).replace('"', '\\"')
        lines.append(f'            echo "data: {data}";')
        lines.append('            echo "";')
        if i + 1 < SSE_EVENTS:
            lines.append("            echo_flush;")
            lines.append(f"            echo_sleep {SSE_GAP};")
    return "\n".join(lines)


# What every nginx here shares: its files in its own directory, no access log.
NGINX_COMMON = """\
worker_rlimit_nofile {nofile};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 40000; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
"""

NGINX_CONF = """\
{load_echo}
daemon off;
master_process off;
worker_processes 1;
""" + NGINX_COMMON + """\
    # /whoami says whether the real key arrived without echoing it: keyhole
    # scrubs a key echoed back to the client into its token.
    map_hash_bucket_size 256;
    map $http_authorization $kh_swap {{ "Bearer {secret}" "real-key"; default "other"; }}
    keepalive_timeout 600s;
    keepalive_requests 1000000000;
    client_max_body_size 0;
    output_buffers 2 1m;     # the default 2 x 32k caps a TLS stream near 500 MB/s here
    server {{
        listen 127.0.0.1:{port} ssl backlog=4096;
        server_name {api} *.{domain};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location = /small {{ default_type text/plain; return 200 "{small}"; }}
        location = /whoami {{ default_type text/plain; return 200 "auth=$kh_swap"; }}
        location = /large {{ default_type application/octet-stream; alias {www}/large.bin; }}
        location = /sse {{
            default_type text/event-stream;
{sse}
        }}
    }}
}}
"""


class Nginx:
    """TLS upstream: /small, /large (256 MiB sparse file), /sse, /whoami."""

    def __init__(self, d, pki, secret):
        self.dir, self.pki, self.secret = d, pki, secret
        self.proc, self.port = None, None
        self.has_sse = os.path.exists(ECHO_MODULE)

    def start(self):
        if not os.access(NGINX, os.X_OK):
            raise RuntimeError(f"{NGINX} not found (apt-get install nginx-light)")
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        www = os.path.join(self.dir, "www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "large.bin"), "wb") as f:
            f.truncate(LARGE_SIZE)  # sparse: nginx still reads and encrypts every byte
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(
                load_echo=f"load_module {ECHO_MODULE};" if self.has_sse else "",
                nofile=nofile_limit(), dir=self.dir, port=self.port, api=API_HOST, domain=DOMAIN,
                cert=self.pki["cert"], key=self.pki["key"], small=SMALL_BODY.strip() + "\\n",
                www=www, secret=self.secret, sse=_sse_location() if self.has_sse else "            return 404;"))
        self.proc = spawn([NGINX, "-p", self.dir, "-c", conf, "-e",
                           os.path.join(self.dir, "error.log")],
                          os.path.join(self.dir, "stderr.log"))
        wait_port(self.port, self.proc, 10, "nginx")
        return self

    def version(self):
        return first_line([NGINX, "-v"])


# ---- proxies --------------------------------------------------------------

class Peer:
    """One column of the report. proxy_url None means direct."""
    name = "?"
    proxy_url = None
    ca = None            # what the load generator trusts
    proc = None
    skipped = None       # reason, when it cannot run here
    idle_fds_per_conn = 2  # descriptors one idle intercepted connection holds

    def start(self):
        pass

    def stop(self):
        stop(self.proc)
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def pid(self):
        return self.proc.pid if self.proc else None

    def version(self):
        return ""

    def log_tail(self):
        return ""


class Direct(Peer):
    name = "direct"

    def __init__(self, pki):
        self.ca = pki["ca"]


class Keyhole(Peer):
    name = "keyhole"
    idle_fds_per_conn = 1  # idle clients hand their upstream to a bounded pool
    LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")

    def __init__(self, binary, d, pki, names, token, secret):
        self.bin, self.dir, self.pki, self.names = binary, d, pki, names
        self.token, self.secret = token, secret
        self.home = os.path.join(d, "home")
        self.ca = os.path.join(self.home, "ca.crt")
        self.port = None

    def _write_home(self):
        os.makedirs(self.home, mode=0o700, exist_ok=True)
        cfg = {
            "tunnel_port": 0,
            "upstream_ca_file": self.pki["ca"],
            "upstream_deny_cidrs": [],          # the upstream is on loopback
            "extra_allowed_hosts": [f"*.{DOMAIN}"],
            "allowed_ports": {f"*.{DOMAIN}": ["1-65535"]},  # the upstream's port is ephemeral
            "resolve": {n: "127.0.0.1" for n in self.names},
            "limits": {"max_connections": 30000},
            "timeouts": {"keepalive": 600, "idle": 600},
        }
        # e.g. BENCH_KEYHOLE_CONFIG='{"privsep": false}': a setting measured as it costs
        cfg.update(json.loads(os.environ.get("BENCH_KEYHOLE_CONFIG", "{}")))
        maps = {"version": 1, "tokens": [{
            "proxy_token": self.token, "env_name": "OPENAI_API_KEY",
            "upstream_hosts": [API_HOST], "match_headers": ["Authorization"]}]}
        for name, doc in (("config.yaml", cfg), ("mappings.json", maps)):
            path = os.path.join(self.home, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(doc, f, indent=1)  # JSON is YAML

    def start(self):
        self._write_home()
        err = os.path.join(self.dir, "keyhole.stderr")
        open(err, "w").close()
        env = {"PATH": "/usr/bin:/bin", "HOME": self.dir, "LANG": "C.UTF-8",
               "OPENAI_API_KEY": self.secret}
        # e.g. BENCH_KEYHOLE_WRAPPER="heaptrack -o /tmp/kh" to profile the daemon
        wrapper = shlex.split(os.environ.get("BENCH_KEYHOLE_WRAPPER", ""))
        self.proc = spawn(wrapper + [self.bin, "proxy", "--home", self.home], err, env=env)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"keyhole exited: {self.log_tail()}")
            with open(err) as f:
                m = self.LISTEN_RE.search(f.read())
            if m:
                self.port = int(m.group(1))
                self.proxy_url = f"http://127.0.0.1:{self.port}"
                wait_port(self.port, self.proc, 5, "keyhole")
                return
            time.sleep(0.05)
        raise RuntimeError(f"keyhole did not log its port: {self.log_tail()}")

    def version(self):
        return first_line([self.bin, "--version"])

    def log_tail(self):
        try:
            with open(os.path.join(self.dir, "keyhole.stderr")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""


class Mitmproxy(Peer):
    name = "mitmproxy"

    def __init__(self, d, pki, hosts, secret):
        self.dir, self.pki, self.hosts, self.secret = d, pki, hosts, secret
        self.confdir = os.path.join(d, "conf")
        self.ca = os.path.join(d, "mitm-ca.crt")
        self.port = None
        for tool in ("mitmdump", "unshare", "mount"):
            if shutil.which(tool) is None:
                self.skipped = f"{tool} not installed (apt-get install mitmproxy util-linux)"
                return
        if os.geteuid() != 0:
            self.skipped = "needs root for a private /etc/hosts (unshare -m + bind mount)"

    def start(self):
        os.makedirs(self.confdir, exist_ok=True)
        if not os.path.exists(self.ca):
            crt, key = make_ca(self.dir, "mitm-ca", "keyhole bench mitmproxy CA")
            with open(os.path.join(self.confdir, "mitmproxy-ca.pem"), "w") as out:
                out.write(open(key).read() + open(crt).read())
        self.port = free_port()
        self.proxy_url = f"http://127.0.0.1:{self.port}"
        # Swap only our token, only toward the bench domain, as keyhole does.
        swap = (rf'/~d {re.escape(DOMAIN)} & ~hq "(?i)^authorization: bearer keyhole-openai-"'
                f"/Authorization/Bearer {self.secret}")
        argv = ["mitmdump", "--listen-host", "127.0.0.1", "-p", str(self.port),
                "--set", f"confdir={self.confdir}",
                "--set", f"ssl_verify_upstream_trusted_ca={self.pki['ca']}",
                "--set", "stream_large_bodies=1",   # stream bodies (SSE, 256 MiB) like keyhole
                "--modify-headers", swap]
        script = 'mount --bind "$0" /etc/hosts && exec "$@"'
        self.proc = spawn(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                           self.hosts, *argv], os.path.join(self.dir, "mitmdump.log"))
        wait_port(self.port, self.proc, 20, "mitmdump")

    def version(self):
        return first_line(["mitmdump", "--version"])

    def log_tail(self):
        try:
            with open(os.path.join(self.dir, "mitmdump.log"), errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""


SQUID_CONF = """\
http_port 127.0.0.1:{port} ssl-bump tls-cert={dir}/ca.pem generate-host-certificates=on dynamic_cert_mem_cache_size=16MB
sslcrtd_program {certgen} -s {dir}/ssl_db -M 16MB
sslcrtd_children 8 startup=1 idle=1
acl step1 at_step SslBump1
ssl_bump peek step1
ssl_bump bump all
tls_outgoing_options cafile={upstream_ca}
acl bench dstdomain .{domain}
acl tok req_header Authorization -i ^Bearer\\ keyhole-openai-
request_header_access Authorization deny tok
request_header_add Authorization "Bearer {secret}" tok
http_access allow bench
http_access deny all
cache deny all
via off
forwarded_for delete
hosts_file {hosts}
dns_nameservers 127.0.0.1
access_log stdio:{dir}/access.log
cache_log {dir}/cache.log
pid_filename {dir}/squid.pid
coredump_dir {dir}
max_filedescriptors {nofile}
client_idle_pconn_timeout 10 minutes
shutdown_lifetime 1 seconds
pinger_enable off
cache_effective_user proxy
"""


class Squid(Peer):
    name = "squid"

    def __init__(self, d, pki, hosts, secret):
        self.dir, self.pki, self.hosts, self.secret = d, pki, hosts, secret
        self.ca = os.path.join(d, "squid-ca.crt")
        self.port = None
        if not os.access(SQUID, os.X_OK) or not os.access(CERTGEN, os.X_OK):
            self.skipped = "squid-openssl not installed (apt-get install squid-openssl)"
        elif "--with-openssl" not in run([SQUID, "-v"]).stdout:
            self.skipped = "this squid has no OpenSSL (ssl-bump); install squid-openssl"
        else:
            try:
                pwd.getpwnam("proxy")
            except KeyError:
                self.skipped = "no 'proxy' user for cache_effective_user"

    def _prepare(self):
        if not os.path.exists(self.ca):
            crt, key = make_ca(self.dir, "squid-ca", "keyhole bench squid CA")
            with open(os.path.join(self.dir, "ca.pem"), "w") as out:
                out.write(open(crt).read() + open(key).read())
        db = os.path.join(self.dir, "ssl_db")
        shutil.rmtree(db, ignore_errors=True)  # cold leaf cache on every start
        r = run([CERTGEN, "-c", "-s", db, "-M", "16MB"])
        if r.returncode != 0:
            raise RuntimeError(f"security_file_certgen -c: {r.stderr.strip()}")
        pw = pwd.getpwnam("proxy")
        for root, dirs, files in os.walk(self.dir):
            for n in [root] + [os.path.join(root, x) for x in dirs + files]:
                os.chown(n, pw.pw_uid, pw.pw_gid)

    def start(self):
        self._prepare()
        self.port = free_port()
        self.proxy_url = f"http://127.0.0.1:{self.port}"
        conf = os.path.join(self.dir, "squid.conf")
        with open(conf, "w") as f:
            f.write(SQUID_CONF.format(port=self.port, dir=self.dir, certgen=CERTGEN,
                                      upstream_ca=self.pki["ca"], domain=DOMAIN,
                                      secret=self.secret, hosts=self.hosts,
                                      nofile=nofile_limit()))
        self.proc = spawn([SQUID, "-N", "-f", conf], os.path.join(self.dir, "stderr.log"))
        wait_port(self.port, self.proc, 20, "squid")

    def version(self):
        return first_line([SQUID, "-v"])

    def log_tail(self):
        try:
            with open(os.path.join(self.dir, "cache.log"), errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""


# ---- reference: the two-leg bound ------------------------------------------

RELAY_CONF = """\
daemon off;
worker_processes {workers};
""" + NGINX_COMMON + """\
    keepalive_timeout 600s;
    keepalive_requests 1000000000;
    map_hash_bucket_size 256;
    map $http_authorization $kh_auth {{ "Bearer {token}" "Bearer {secret}"; default $http_authorization; }}
    upstream bench_upstream {{
        server 127.0.0.1:{upstream_port};
        keepalive 1024;
        keepalive_requests 1000000000;
        keepalive_timeout 600s;
    }}
    server {{
        listen 127.0.0.1:{port} ssl backlog=4096;
        server_name {api} *.{domain};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            proxy_pass https://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header Authorization $kh_auth;
            proxy_ssl_server_name on;
            proxy_ssl_name $host;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate {ca};
            proxy_ssl_session_reuse on;
            proxy_buffering off;
        }}
    }}
}}
"""


class NginxRelay(Peer):
    """Not an intercepting proxy: a reference for what two TLS legs cost here.

    nginx as a TLS-terminating reverse proxy in front of the same upstream, with
    the same token swap (a map on Authorization), a verified and pooled
    keep-alive upstream, no access log and one worker per core. The client
    reaches it as the origin (no CONNECT, no minted leaf), so it does less than
    an intercepting proxy; its throughput is the two-leg figure to read
    keyhole's ratio to direct against."""
    name = "nginx-relay"
    reference = True

    def __init__(self, d, pki, token, secret, upstream_port):
        self.dir, self.pki, self.token, self.secret = d, pki, token, secret
        self.upstream_port = upstream_port
        self.ca = pki["ca"]       # it serves the upstream's own certificate
        self.origin_port = None   # the load generator connects here, as to the origin

    def start(self):
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        self.origin_port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(RELAY_CONF.format(
                workers=os.cpu_count() or 1, nofile=nofile_limit(), dir=self.dir,
                token=self.token, secret=self.secret, upstream_port=self.upstream_port,
                port=self.origin_port, api=API_HOST, domain=DOMAIN, cert=self.pki["cert"],
                key=self.pki["key"], ca=self.pki["ca"]))
        self.proc = spawn([NGINX, "-p", self.dir, "-c", conf, "-e",
                           os.path.join(self.dir, "error.log")],
                          os.path.join(self.dir, "stderr.log"))
        wait_port(self.origin_port, self.proc, 10, "nginx relay")

    def version(self):
        return first_line([NGINX, "-v"]) + " (reverse proxy)"

    def log_tail(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""
