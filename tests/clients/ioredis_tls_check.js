// ioredis (5.x) over TLS against the proxy's TLS client port.
// Usage: node ioredis_tls_check.js PORT CA_FILE
// The server certificate is verified against CA_FILE (and its IP address).
// Prints "ioredis tls: all checks passed" on success; exits non-zero otherwise.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const Redis = require('ioredis');

async function main() {
  const port = Number(process.argv[2]);
  const ca = fs.readFileSync(process.argv[3]);
  const r = new Redis({ port, host: '127.0.0.1', tls: { ca } });
  const p = 'iotls:';
  try {
    assert.equal(await r.ping(), 'PONG');
    assert.equal(await r.set(p + 'a', '1'), 'OK');
    assert.equal(await r.get(p + 'a'), '1');
    const big = Buffer.alloc(1 << 20, 0x5a);
    assert.equal(await r.set(p + 'big', big), 'OK');
    assert.deepEqual(await r.getBuffer(p + 'big'), big);
    const pipe = r.pipeline();
    for (let i = 0; i < 200; i++) pipe.incr(p + 'ctr');
    const res = await pipe.exec();
    assert.equal(res[199][1], 200);
    assert.equal(await r.del(p + 'a', p + 'big', p + 'ctr'), 3);
  } finally {
    r.disconnect();
  }
  console.log('ioredis tls: all checks passed');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
