// Node fetch (undici, Debian's node-undici) with a ProxyAgent through the proxy
// or an Agent pinned to loopback direct; keep-alive by undici's pool. Same spec
// and output as node_https.js.
'use strict';
const fs = require('fs');
let undici;
try { undici = require('undici'); } catch (e) {
  // Debian's node-undici lives in /usr/share/nodejs with its dependencies
  // (busboy, ...): agents.py runs node with NODE_PATH=/usr/share/nodejs.
  try { undici = require('/usr/share/nodejs/undici'); } catch (e2) {
    console.log(JSON.stringify({ skipped: `undici not loadable: ${String(e2).split('\n')[0]}` }));
    process.exit(0);
  }
}
const S = JSON.parse(process.argv[2]);
const ca = fs.readFileSync(S.ca);
const pin = (host, opts, cb) => (opts.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4));
const dispatcher = S.proxy
  ? new undici.ProxyAgent({ uri: S.proxy, requestTls: { ca, servername: S.host } })
  : new undici.Agent({ connect: { ca, lookup: pin, servername: S.host } });
const url = `https://${S.host}:${S.port}${S.path}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const lat = []; let errors = 0, error = null;
const deadline = Date.now() + S.timeout * 1000;

async function once() {
  const t0 = process.hrtime.bigint();
  const res = await undici.fetch(url, { dispatcher, headers: { Authorization: S.auth } });
  if (res.status !== 200) { await res.arrayBuffer(); throw new Error(`status ${res.status}`); }
  if (S.sse) {
    const rd = res.body.getReader(); let got = '', t = null;
    for (;;) {
      const { done, value } = await rd.read();
      if (done) break;
      if (t === null) { got += Buffer.from(value).toString(); if (got.includes('\n\n')) t = Number(process.hrtime.bigint() - t0) / 1000; }
    }
    if (t === null) throw new Error('no SSE event');
    return t;
  }
  await res.arrayBuffer();
  return Number(process.hrtime.bigint() - t0) / 1000;
}

const timer = setTimeout(() => { console.log(JSON.stringify({ lat_us: lat, errors, error: 'killed at deadline' })); process.exit(0); }, S.timeout * 1000 + 2000);
(async () => {
  let next = Date.now();
  for (let k = 0; k < S.n && Date.now() < deadline; k++) {
    if (S.gap_ms) { const d = next - Date.now(); if (d > 0) await sleep(d); next = Math.max(next + S.gap_ms, Date.now()); }
    try { lat.push(await once()); } catch (e) { errors++; error = String(e && (e.cause || e)).slice(0, 300); }
  }
  clearTimeout(timer);
  console.log(JSON.stringify({ lat_us: lat, errors, error }));
  await dispatcher.close();
})();
