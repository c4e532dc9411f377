// ioredis (5.x) with its default settings against the proxy.
// Usage: node ioredis_check.js PORT
// Prints "ioredis: all checks passed" on success; exits non-zero otherwise.
'use strict';

const assert = require('node:assert/strict');
const Redis = require('ioredis');

async function main() {
  const port = Number(process.argv[2]);
  const r = new Redis(port, '127.0.0.1');
  const p = 'ioredis:';
  try {
    assert.equal(await r.ping(), 'PONG');
    assert.equal(await r.set(p + 'a', '1'), 'OK');
    assert.equal(await r.get(p + 'a'), '1');
    const binary = Buffer.from([0, 0xff, 0x0d, 0x0a, 0x41]);
    assert.equal(await r.set(p + 'bin', binary), 'OK');
    assert.deepEqual(await r.getBuffer(p + 'bin'), binary);
    assert.equal(await r.get(p + 'missing'), null);
    assert.deepEqual(await r.mget(p + 'a', p + 'missing'), ['1', null]);
    assert.equal(await r.mset(p + 'm1', 'x', p + 'm2', 'y'), 'OK');
    assert.deepEqual(await r.mget(p + 'm1', p + 'm2'), ['x', 'y']);
    assert.equal(await r.hset(p + 'h', 'f1', 'v1', 'f2', 'v2'), 2);
    assert.deepEqual(await r.hgetall(p + 'h'), { f1: 'v1', f2: 'v2' });
    assert.equal(await r.del(p + 'm1', p + 'm2', p + 'missing'), 2);

    const pipe = r.pipeline();
    for (let i = 0; i < 100; i++) pipe.incr(p + 'ctr');
    pipe.get(p + 'ctr');
    const results = await pipe.exec();
    for (let i = 0; i < 100; i++) {
      assert.equal(results[i][0], null);
      assert.equal(results[i][1], i + 1);
    }
    assert.deepEqual(results[100], [null, '100']);

    // Commands issued in the same tick are pipelined on one connection.
    const parallel = await Promise.all(
      Array.from({ length: 50 }, (_, i) => r.set(p + 'par' + i, String(i))));
    assert.ok(parallel.every((x) => x === 'OK'));
    assert.equal(await r.get(p + 'par49'), '49');

    await assert.rejects(r.call('FOOBAR'), /ERR/);
    assert.equal(await r.ping(), 'PONG');
    console.log('ioredis: all checks passed');
  } finally {
    r.disconnect();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
