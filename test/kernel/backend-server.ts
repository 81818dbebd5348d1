// A test backend, run inside a network namespace in the VM: answers HTTP with its name
// (GET /reset answers then resets the connection; GET /peer answers the source address it sees,
// to tell masqueraded traffic apart) and UDP datagrams with its name.
import { createServer } from 'node:http';
import { createSocket } from 'node:dgram';

const [name = 'backend', httpPort = '8080', udpPort = '5353'] = process.argv.slice(2);

const http = createServer((req, res) => {
  if (req.url === '/reset') {
    res.end(name, () => { req.socket.resetAndDestroy(); });
    return;
  }
  res.setHeader('content-type', 'text/plain');
  res.end(req.url === '/peer' ? req.socket.remoteAddress ?? '' : name);
});
http.keepAliveTimeout = 120_000;
http.listen(Number(httpPort), '0.0.0.0');

const udp = createSocket('udp4');
udp.on('message', (_msg, from) => { udp.send(name, from.port, from.address); });
udp.bind(Number(udpPort), '0.0.0.0', () => { process.stdout.write('ready\n'); });
