// Loopback helpers shared by the e2e harnesses and the benchmarks.
const net = require('net');

// A port that was free a moment ago on 127.0.0.1. The window for a collision is small, and a
// collision fails loudly when the server starts rather than silently.
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

module.exports = { freePort };
