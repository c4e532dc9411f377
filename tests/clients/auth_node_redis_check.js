// node-redis (5.x) with a password against a node with requirepass.
// Usage: node auth_node_redis_check.js PORT PASSWORD
// With the password (RESP2: AUTH; RESP3: HELLO 3 AUTH default <password>)
// commands work; with a wrong one connecting fails with WRONGPASS.
// Prints "node-redis auth: all checks passed" on success.
'use strict';

const assert = require('node:assert/strict');
const { createClient } = require('redis');

function client(port, opts) {
  return createClient({
    socket: { host: '127.0.0.1', port, reconnectStrategy: false },
    ...opts,
  });
}

async function works(port, opts) {
  const r = client(port, opts);
  r.on('error', () => {});
  await r.connect();
  try {
    assert.equal(await r.ping(), 'PONG');
    assert.equal(await r.set('nrauth:a', '1'), 'OK');
    assert.equal(await r.get('nrauth:a'), '1');
  } finally {
    await r.quit();
  }
}

async function refused(port, opts) {
  const r = client(port, opts);
  r.on('error', () => {});
  try {
    await r.connect();
    await r.get('nrauth:a');
    assert.fail('no error with ' + JSON.stringify(opts));
  } catch (e) {
    assert.match(String(e.message), /WRONGPASS/, String(e.message));
  } finally {
    try { r.destroy(); } catch (_) { /* already closed */ }
  }
}

async function main() {
  const port = Number(process.argv[2]);
  const password = process.argv[3];
  await works(port, { password });
  await works(port, { password, RESP: 3 });
  await works(port, { username: 'default', password });
  console.log('node-redis auth ok: ok');
  await refused(port, { password: password + 'x' });
  await refused(port, { password: password + 'x', RESP: 3 });
  console.log('node-redis auth wrong: ok');
  console.log('node-redis auth: all checks passed');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
