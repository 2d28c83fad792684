// A back end's webhook for tests: collects the relay's `message` events, in delivery order.
import { createServer } from 'node:http';
import { collector } from './wait.mjs';

/** Listens on a free loopback port; `{ url, messages, close }` (`messages`: a collector). */
export async function webhookSink() {
  const messages = collector();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const event = JSON.parse(body);
      if (event.type === 'message') messages.add(event.message);
      res.end('ok');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/hook`, messages, close: () => server.close() };
}
