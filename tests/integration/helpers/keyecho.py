"""An upstream that hands the real key back in ways the response scrubber
must not miss, and the client-side check that it did not.

`KeyEchoUpstream` answers every request with a body that holds the key it
received (the Authorization Bearer value, i.e. the real key after keyhole's
swap) between two fillers, shaped by the query:

  range=1        honours Range (bytes=a-b, one range) with 206 + Content-Range
  force206=1     answers 206 even when the request had no Range
  te=<codings>   Transfer-Encoding value, e.g. "gzip, chunked", "deflate", "x-gzip, chunked"
  ce=<codings>   Content-Encoding value, e.g. "br", "zstd", "gzip, gzip", "compress"

Codings are applied for real (gzip, x-gzip, deflate, br, zstd), innermost
first as the header lists them; "chunked" frames the body; an unknown token
is applied as an identity the client cannot know about.

`decodings(data)` is everything a client could get out of bytes by undoing
codings it knows (gzip members, zlib, raw deflate, brotli, zstd), repeatedly;
`assert_no_key(data, secret)` fails if any of them holds the key in any form
the scrubber replaces (raw, base64, base64url, percent-encoded);
`assert_clean_response` checks a response's head and body that way.
"""
import base64
import gzip
import re
import urllib.parse
import zlib

from .upstream import Upstream, _chunk

try:
    import brotli
except ImportError:     # the test that needs it skips and says why
    brotli = None
try:
    import zstandard
except ImportError:
    zstandard = None

FILL_A = b"<<" + b"a" * 30 + b":"
FILL_B = b":" + b"b" * 30 + b">>"


def key_body(key):
    return FILL_A + key + FILL_B


def encode(data, coding):
    c = coding.strip().lower()
    if c in ("gzip", "x-gzip"):
        return gzip.compress(data)
    if c == "deflate":
        return zlib.compress(data)
    if c == "br":
        return brotli.compress(data)
    if c == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    if c in ("identity", ""):
        return data
    return data   # "compress", "x-unknown": opaque to keyhole, labelled only


def _codings(value):
    return [c.strip() for c in (value or "").split(",") if c.strip()]


class KeyEchoUpstream(Upstream):
    def _echo(self, sock, rec, keep):
        auth = rec.header("Authorization") or ""
        key = (auth[7:] if auth.startswith("Bearer ") else auth).encode()
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(rec.target).query))
        body, status, extra = key_body(key), "200 OK", []
        rng = rec.header("Range")
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
        if q.get("range") == "1" and m:
            a = int(m.group(1))
            b = int(m.group(2)) if m.group(2) else len(body) - 1
            extra.append(f"Content-Range: bytes {a}-{b}/{len(body)}")
            body, status = body[a:b + 1], "206 Partial Content"
        elif q.get("force206") == "1":
            extra.append(f"Content-Range: bytes 0-{len(body) - 1}/{len(body)}")
            status = "206 Partial Content"
        for c in _codings(q.get("ce")):
            body = encode(body, c)
        if q.get("ce"):
            extra.append(f"Content-Encoding: {q['ce']}")
        te = _codings(q.get("te"))
        for c in te:
            if c.lower() != "chunked":
                body = encode(body, c)
        head = f"HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\n"
        head += "".join(h + "\r\n" for h in extra)
        if te:
            head += f"Transfer-Encoding: {q['te']}\r\n"
            if te[-1].lower() == "chunked":
                payload = b"".join(_chunk(body[i:i + 7]) for i in range(0, len(body), 7))
                sock.sendall(head.encode() + b"\r\n" + payload + b"0\r\n\r\n")
                return
            sock.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)
            sock.close()   # close-delimited
            return
        sock.sendall(head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


def _undo_once(data):
    out = []
    try:
        out.append(gzip.decompress(data))
    except Exception:
        pass
    for wbits in (15, -15):
        try:
            d = zlib.decompressobj(wbits)
            out.append(d.decompress(data) + d.flush())
        except Exception:
            pass
    if brotli is not None:
        try:
            out.append(brotli.decompress(data))
        except Exception:
            pass
    if zstandard is not None:
        try:
            out.append(zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 20))
        except Exception:
            pass
    return [o for o in out if o]


def decodings(data, depth=4):
    """data and every result of undoing up to depth known codings, in any order."""
    seen, frontier = [data], [data]
    for _ in range(depth):
        nxt = []
        for d in frontier:
            for o in _undo_once(d):
                if o not in seen:
                    seen.append(o)
                    nxt.append(o)
        frontier = nxt
    return seen


def key_forms(secret):
    s = secret.encode() if isinstance(secret, str) else secret
    q = urllib.parse.quote(s, safe="").encode()
    return [s, base64.b64encode(s), base64.urlsafe_b64encode(s), q, q.lower()]


def assert_no_key(data, secret, what="the client"):
    for d in decodings(data):
        for form in key_forms(secret):
            assert form not in d, f"a form of the real key reached {what}: {d[:200]!r}"


def assert_clean_response(resp, secret):
    """Neither the head nor the body (each decoded every way it can be) holds the key."""
    assert_no_key(resp.raw_head, secret, "the client (head)")
    assert_no_key(resp.body, secret, "the client (body)")
