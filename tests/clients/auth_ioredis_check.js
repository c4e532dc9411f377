// ioredis (5.x) with a password against a node with requirepass.
// Usage: node auth_ioredis_check.js PORT PASSWORD
// With the password (AUTH <password>, and AUTH default <password> with a
// username) commands work; with a wrong one a command fails with WRONGPASS.
// Prints "ioredis auth: all checks passed" on success.
'use strict';

const assert = require('node:assert/strict');
const Redis = require('ioredis');

async function works(port, opts) {
  const r = new Redis(port, '127.0.0.1', opts);
  try {
    assert.equal(await r.ping(), 'PONG');
    assert.equal(await r.set('ioauth:a', '1'), 'OK');
    assert.equal(await r.get('ioauth:a'), '1');
  } finally {
    r.disconnect();
  }
}

async function refused(port, opts) {
  // No retries: the first error is the answer. ioredis reports a refused
  // AUTH on its 'error' event and then closes the connection.
  const r = new Redis(port, '127.0.0.1', {
    ...opts,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  const errors = [];
  r.on('error', (e) => errors.push(String(e.message)));
  try {
    await r.connect();
    await r.get('ioauth:a');
    assert.fail('no error with ' + JSON.stringify(opts));
  } catch (e) {
    errors.push(String(e.message));
  } finally {
    r.disconnect();
  }
  assert.ok(errors.some((m) => /^WRONGPASS /.test(m)), errors.join(' | '));
}

async function main() {
  const port = Number(process.argv[2]);
  const password = process.argv[3];
  await works(port, { password });
  await works(port, { username: 'default', password });
  console.log('ioredis auth ok: ok');
  await refused(port, { password: password + 'x' });
  await refused(port, { username: 'default', password: password + 'x' });
  console.log('ioredis auth wrong: ok');
  console.log('ioredis auth: all checks passed');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
