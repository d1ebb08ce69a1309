// Node built-in https with a keep-alive Agent; through a proxy, each socket is a
// CONNECT tunnel opened with http.request({method: 'CONNECT'}) and handed to the
// Agent (createConnection's callback form). spec.agents > 1 runs that many
// concurrent agents (one Agent and connection each), each doing spec.n requests
// one every spec.gap_ms ms. Prints {"lat_us": [...], "errors": N, "error": "..."}.
'use strict';
const http = require('http');
const https = require('https');
const tls = require('tls');
const fs = require('fs');
const dns = require('dns');

const S = JSON.parse(process.argv[2]);
const ca = fs.readFileSync(S.ca);
const pin = (host, opts, cb) => {   // bench names never reach DNS
  if (typeof opts === 'function') { cb = opts; opts = {}; }
  if (host.endsWith('.bench.test')) {
    return opts.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4);
  }
  return dns.lookup(host, opts, cb);
};

function tunnelAgent() {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca, lookup: pin });
  if (!S.proxy) return agent;
  const p = new URL(S.proxy);
  agent.createConnection = (opts, cb) => {
    conns++;
    const req = http.request({ host: p.hostname, port: p.port, method: 'CONNECT',
      path: `${S.host}:${S.port}`, headers: { Host: `${S.host}:${S.port}` } });
    req.on('connect', (res, sock) => {
      if (res.statusCode !== 200) { sock.destroy(); cb(new Error(`CONNECT ${res.statusCode}`)); return; }
      const t = tls.connect({ socket: sock, servername: S.host, ca }, () => cb(null, t));
      t.on('error', (e) => cb(e));
    });
    req.on('error', (e) => cb(e));
    req.end();
  };
  return agent;
}

function once(agent) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = https.request({ host: S.host, port: S.port, path: S.path, agent, ca,
      lookup: pin, servername: S.host, headers: { Authorization: S.auth } }, (res) => {
      // SSE: the first event's time, reported once the stream ended (the next
      // request cannot start on this connection before that).
      let got = '', first = null;
      const now = () => Number(process.hrtime.bigint() - t0) / 1000;
      if (res.statusCode !== 200) { res.resume(); reject(new Error(`status ${res.statusCode}`)); return; }
      res.on('data', (c) => { if (S.sse && first === null) { got += c; if (got.includes('\n\n')) first = now(); } });
      res.on('end', () => (S.sse ? (first === null ? reject(new Error('no SSE event')) : resolve(first)) : resolve(now())));
      res.on('error', reject);
    });
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const lat = []; let errors = 0, error = null, conns = 0;
const deadline = Date.now() + S.timeout * 1000;

async function agentLoop(i) {
  const agent = tunnelAgent();
  if (S.agents > 1) await sleep((S.gap_ms || 0) * i / S.agents);  // spread the starts
  let next = Date.now();
  for (let k = 0; k < S.n && Date.now() < deadline; k++) {
    if (S.gap_ms) { const d = next - Date.now(); if (d > 0) await sleep(d); next = Math.max(next + S.gap_ms, Date.now()); }
    // With many agents, each one's first request (CONNECT + TLS setup) is not a sample.
    try { const t = await once(agent); if (S.agents <= 1 || k > 0) lat.push(t); } catch (e) { errors++; error = String(e).slice(0, 300); }
  }
  agent.destroy();
}

const timer = setTimeout(() => { console.log(JSON.stringify({ lat_us: lat, errors, error: 'killed at deadline' })); process.exit(0); }, S.timeout * 1000 + 2000);
Promise.all(Array.from({ length: S.agents || 1 }, (_, i) => agentLoop(i))).then(() => {
  clearTimeout(timer);
  console.log(JSON.stringify({ lat_us: lat, errors, error, conns }));
});
