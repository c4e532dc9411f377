// node-redis (the `redis` package, 5.x) with its default settings against
// the proxy, over RESP2 (the default) and RESP3.
// Usage: node node_redis_check.js PORT
// Prints "node-redis: all checks passed" on success; exits non-zero otherwise.
'use strict';

const assert = require('node:assert/strict');
const { createClient, RESP_TYPES } = require('redis');

async function check(port, resp) {
  const options = { url: `redis://127.0.0.1:${port}` };
  if (resp) options.RESP = resp;
  const client = createClient(options);
  client.on('error', (e) => console.error('client error:', e));
  await client.connect();
  const p = `noderedis${resp || 'default'}:`;
  try {
    assert.equal(await client.ping(), 'PONG');
    assert.equal(await client.set(p + 'a', '1'), 'OK');
    assert.equal(await client.get(p + 'a'), '1');
    assert.equal(await client.get(p + 'missing'), null);
    const binary = Buffer.from([0, 0xff, 0x0d, 0x0a, 0x41]);
    assert.equal(await client.set(p + 'bin', binary), 'OK');
    const raw = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
    assert.deepEqual(await raw.get(p + 'bin'), binary);
    assert.deepEqual(await client.mGet([p + 'a', p + 'missing']), ['1', null]);
    assert.equal(await client.mSet({ [p + 'm1']: 'x', [p + 'm2']: 'y' }), 'OK');
    assert.deepEqual(await client.mGet([p + 'm1', p + 'm2']), ['x', 'y']);
    assert.equal(await client.hSet(p + 'h', { f1: 'v1', f2: 'v2' }), 2);
    assert.deepEqual({ ...(await client.hGetAll(p + 'h')) }, { f1: 'v1', f2: 'v2' });
    assert.equal(await client.del([p + 'm1', p + 'm2', p + 'missing']), 2);

    // Commands issued in the same tick are pipelined automatically.
    const incrs = await Promise.all(
      Array.from({ length: 100 }, () => client.incr(p + 'ctr')));
    assert.deepEqual(incrs, Array.from({ length: 100 }, (_, i) => i + 1));
    // An explicit non-transactional pipeline.
    const piped = await client.multi().get(p + 'ctr').hGetAll(p + 'h').execAsPipeline();
    assert.equal(piped[0], '100');
    assert.deepEqual({ ...piped[1] }, { f1: 'v1', f2: 'v2' });

    await assert.rejects(client.sendCommand(['FOOBAR']), /ERR/);
    assert.equal(await client.ping(), 'PONG');
    console.log(`${p} ok`);
  } finally {
    client.destroy();
  }
}

async function main() {
  const port = Number(process.argv[2]);
  await check(port, undefined);
  await check(port, 3);
  console.log('node-redis: all checks passed');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
