// A CONNECT relay on 127.0.0.1 to the npm registry and nowhere else, for a docker build whose
// `npm ci` must reach the registry while its container talks only to 127.0.0.1
// (scripts/cluster-images.sh passes it as HTTPS_PROXY). Writes its port to the file in argv[2].
'use strict';
const http = require('node:http');
const net = require('node:net');
const fs = require('node:fs');

const ALLOWED = new Set(['registry.npmjs.org:443']);

const server = http.createServer((req, res) => {
  res.writeHead(403, { 'content-type': 'text/plain' });
  res.end('only CONNECT registry.npmjs.org:443\n');
});
server.on('connect', (req, client, head) => {
  if (!ALLOWED.has(req.url)) {
    console.error(`refused CONNECT ${req.url}`);
    client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    return;
  }
  const [host, port] = req.url.split(':');
  const upstream = net.connect(Number(port), host, () => {
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  const close = () => {
    upstream.destroy();
    client.destroy();
  };
  upstream.on('error', (err) => {
    console.error(`CONNECT ${req.url}: ${err.message}`);
    if (!client.writableEnded) client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
    close();
  });
  client.on('error', close);
});
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(process.argv[2], String(server.address().port));
});
