"""A small authoritative DNS server on loopback for resolver tests.

It answers A queries from a table of name suffixes -> IPv4 address (AAAA and
other types get an empty NOERROR answer, unknown names NXDOMAIN), with a
fixed TTL, and holds back the answers for names under the `slow` suffixes by
`delay` seconds (one sender thread, so 1,000 held answers cost no threads).
Every query is recorded (name, type) so a test can count what reached DNS.

    srv = DnsServer({"wild.test": "127.0.0.1"}, slow={"slow.test": 3.0}).start()
    ... config dns_servers: [f"127.0.0.1:{srv.port}"] ...
    srv.stop()
"""
import heapq
import socket
import struct
import threading
import time

QTYPE_A = 1


def _parse_query(data):
    """(id, flags, name, qtype, question bytes) or None for anything odd."""
    if len(data) < 17:
        return None
    qid, flags, qd = struct.unpack("!HHH", data[:6])
    if qd != 1 or flags & 0x8000:
        return None
    labels, i = [], 12
    while i < len(data) and data[i] != 0:
        n = data[i]
        if n > 63 or i + 1 + n > len(data):
            return None
        labels.append(data[i + 1:i + 1 + n].decode("ascii", "replace").lower())
        i += 1 + n
    if i + 5 > len(data):
        return None
    qtype = struct.unpack("!H", data[i + 1:i + 3])[0]
    return qid, flags, ".".join(labels), qtype, data[12:i + 5]


def _under(name, suffix):
    return name == suffix or name.endswith("." + suffix)


class DnsServer:
    def __init__(self, zones, slow=None, ttl=60, host="127.0.0.1", port=0):
        self.zones = dict(zones)          # suffix -> IPv4 answer
        self.slow = dict(slow or {})      # suffix -> delay in seconds
        self.ttl = ttl
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries = []                 # (name, qtype), in arrival order
        self._lock = threading.Condition()
        self._held = []                   # heap of (send_at, seq, reply, addr)
        self._seq = 0
        self._stop = False
        self._threads = [threading.Thread(target=self._serve, daemon=True),
                         threading.Thread(target=self._sender, daemon=True)]

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def stop(self):
        with self._lock:
            self._stop = True
            self._lock.notify_all()
        for t in self._threads:
            t.join(5)
        self.sock.close()

    def count(self, suffix):
        """Queries received so far for names under suffix."""
        with self._lock:
            return sum(1 for n, _ in self.queries if _under(n, suffix))

    def _answer(self, qid, flags, name, qtype, question):
        zone = next((z for z in self.zones if _under(name, z)), None)
        rcode = 0 if zone is not None else 3
        answers = b""
        if zone is not None and qtype == QTYPE_A:
            answers = (b"\xc0\x0c" + struct.pack("!HHIH", QTYPE_A, 1, self.ttl, 4) +
                       socket.inet_aton(self.zones[zone]))
        head = struct.pack("!HHHHHH", qid, 0x8400 | (flags & 0x0100) | rcode, 1,
                           1 if answers else 0, 0, 0)
        return head + question + answers

    def _serve(self):
        while True:
            with self._lock:
                if self._stop:
                    return
            try:
                data, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            q = _parse_query(data)
            if q is None:
                continue
            reply = self._answer(*q)
            delay = next((d for s, d in self.slow.items() if _under(q[2], s)), 0)
            with self._lock:
                self.queries.append((q[2], q[3]))
                self._seq += 1
                heapq.heappush(self._held, (time.monotonic() + delay, self._seq, reply, addr))
                self._lock.notify_all()

    def _sender(self):
        while True:
            with self._lock:
                while not self._stop and (not self._held or
                                          self._held[0][0] > time.monotonic()):
                    wait = self._held[0][0] - time.monotonic() if self._held else None
                    self._lock.wait(wait)
                if self._stop:
                    return
                _, _, reply, addr = heapq.heappop(self._held)
            try:
                self.sock.sendto(reply, addr)
            except OSError:
                pass
