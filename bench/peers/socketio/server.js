// socket.io 4 peer for the Cometa benchmark (bench/src/peer.rs starts it).
//
// Every client joins the room "bench" (fan-out) and "u:<user>" when it connects with
// `?user=<id>` (personal messages). `POST /publish` with `{"room","event","data"}` emits to a
// room with `io.to(room).emit`, which encodes the packet once for all members, the same
// work split as the relay's hub. No auth and no storage: this is the room fan-out people
// deploy socket.io for, measured with its defaults.
'use strict';

const http = require('node:http');
const { Server } = require('socket.io');

const MAX_BODY = 64 * 1024;

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/publish') {
    res.writeHead(404).end();
    return;
  }
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) {
      res.writeHead(413).end();
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    let msg;
    try {
      msg = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400).end();
      return;
    }
    const room = typeof msg.room === 'string' ? msg.room : 'bench';
    io.to(room).emit(msg.event || 'bench', msg.data);
    const members = io.sockets.adapter.rooms.get(room);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ delivered: members ? members.size : 0 }));
  });
});

const io = new Server(server, { serveClient: false });

io.on('connection', (socket) => {
  socket.join('bench');
  const user = socket.handshake.query.user;
  if (typeof user === 'string' && user.length > 0) {
    socket.join(`u:${user}`);
  }
});

// Load generators connect thousands of sockets at once; Node's default backlog is 511.
server.listen({ host: '127.0.0.1', port: Number(process.env.PORT || 0), backlog: 4096 }, () => {
  const { port } = server.address();
  // bench/src/peer.rs waits for this exact line.
  console.log(`socketio listening on http://127.0.0.1:${port}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(0));
}
