// A tunnel's connect-URL answer reaches the module through the tunnel's link (js/host.js →
// js/link.js), not through a closure of its own: an answer that comes after its tunnel was
// freed must reach no other tunnel, even one that took over the freed tunnel's link id and is
// waiting for an answer to a request of the same number.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { Tunnel } from 'cometa';
import { collector, within } from './helpers/wait.mjs';

test('a late connect-URL answer of a freed tunnel does not reach the next one', { timeout: 30000 }, async () => {
  // The tunnel service holds each answer until the test lets it go: `requests` gets
  // [name, send()] as each request comes in.
  const requests = collector();
  const server = createServer((req, res) => {
    const name = req.url.slice(1, 2);
    const send = () =>
      new Promise((sent) => {
        res.on('finish', sent);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ code: 0, data: { connectUrl: `ws://127.0.0.1:9/${name}` } }));
      });
    requests.add([name, send]);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  // Records each socket a tunnel opens, and opens none.
  const opened = collector();
  class FakeSocket {
    constructor(url) {
      opened.add(url);
    }
    send() {}
    close() {}
  }
  let b;
  try {
    const a = new Tunnel(`${base}/a`, { WebSocket: FakeSocket });
    a.open();
    await requests.until(1, "tunnel a's request");
    a.close();
    a.free();
    b = new Tunnel(`${base}/b`, { WebSocket: FakeSocket });
    b.open();
    await requests.until(2, "tunnel b's request");
    assert.deepEqual(requests.list.map(([name]) => name), ['a', 'b']);
    // a's answer first, b's once a's is out.
    await within(requests.list[0][1](), "a's answer");
    await within(requests.list[1][1](), "b's answer");
    await opened.until(1, "tunnel b's socket");
    assert.deepEqual(opened.list, ['ws://127.0.0.1:9/b']);
    assert.equal(b.socketUrl, 'ws://127.0.0.1:9/b');
  } finally {
    b?.close();
    server.closeAllConnections();
    server.close();
  }
});
