"""A WebSocket upgrade goes through: the upgrade request is rewritten like any
other (token -> real key, Upgrade kept), and after the 101 frames are relayed
verbatim in both directions, including ones that look like HTTP."""
import asyncio

import pytest

from helpers.client import client_context, send_connect

websockets = pytest.importorskip("websockets", reason="python3-websockets not installed")


async def _roundtrip(sock, ctx, port, token, messages):
    async with websockets.connect(f"wss://api.openai.test:{port}/ws", sock=sock, ssl=ctx,
                                  server_hostname="api.openai.test", max_size=None,
                                  extra_headers={"Authorization": f"Bearer {token}"},
                                  open_timeout=5, close_timeout=5) as ws:
        out = []
        for m in messages:
            await ws.send(m)
            out.append(await asyncio.wait_for(ws.recv(), 5))
        return out


def test_websocket_echo_through_tunnel(start_keyhole, echo, token, secret):
    kh = start_keyhole()
    conn, r = send_connect(kh.port, f"api.openai.test:{echo.port}")
    assert r.status == 200
    looks_like_http = f"GET /x HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    messages = ["hello", "x" * 300, "y" * 70000, b"\x00\x01\x02binary", looks_like_http]
    got = asyncio.run(_roundtrip(conn.sock, client_context(kh.ca_crt), echo.port, token,
                                 messages))
    assert got == messages, "frames must be relayed verbatim"

    upgrade = echo.requests[0]
    assert upgrade.target == "/ws"
    assert (upgrade.header("Upgrade") or "").lower() == "websocket"
    assert upgrade.header("Sec-WebSocket-Key")
    assert upgrade.header("Authorization") == f"Bearer {secret}"
    assert [p for _, p in echo.ws_messages[:5]][4] == looks_like_http.encode()

    rec = kh.wait_audit(lambda a: a.get("path") == "/ws")[0]
    assert rec["status"] == 101 and rec["swapped"] == ["OPENAI_API_KEY"]
