"""nginx as a real TLS upstream (static files plus a header echo)."""
import os
import socket
import subprocess
import time

NGINX = "/usr/sbin/nginx"

CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    log_format whoami '$http_authorization';
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    types {{ application/octet-stream bin; }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name api.openai.test;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        root {root};
        location = /whoami {{
            access_log {dir}/whoami.log whoami;
            default_type text/plain;
            return 200 "auth=$http_authorization\\n";
        }}
    }}
}}
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    def __init__(self, workdir, cert, root):
        self.dir, self.cert, self.root = workdir, cert, root
        self.proc, self.port = None, None
        os.makedirs(os.path.join(workdir, "tmp"), exist_ok=True)

    def start(self, attempts=5):
        """Starts on a free port (retrying if another process grabbed it)."""
        for _ in range(attempts):
            self.port = _free_port()
            conf = os.path.join(self.dir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(CONF.format(dir=self.dir, port=self.port, cert=self.cert.cert,
                                    key=self.cert.key, root=self.root))
            with open(os.path.join(self.dir, "stderr.log"), "ab") as err:
                self.proc = subprocess.Popen(
                    [NGINX, "-p", self.dir, "-c", conf, "-e", os.path.join(self.dir, "error.log")],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                    start_new_session=True)
            if self._wait_listening(5):
                return self
            self.stop()
        raise RuntimeError(f"nginx did not start: {self.error_log()}")

    def _wait_listening(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def whoami_seen(self):
        """Authorization values /whoami received (its reply is scrubbed by keyhole)."""
        try:
            with open(os.path.join(self.dir, "whoami.log")) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def error_log(self):
        out = ""
        for name in ("stderr.log", "error.log"):
            try:
                with open(os.path.join(self.dir, name)) as f:
                    out += f.read()[-2000:]
            except FileNotFoundError:
                pass
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
