// A loopback port that never completes a TCP handshake, for connect-timeout tests: a listening
// socket nobody accepts from, whose accept queue is already full, so the kernel drops every new
// SYN and a client's connect hangs until its own timeout. Loopback only, never another address.
import net from 'node:net';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

export interface UnansweredPort {
  port: number;
  close(): Promise<void>;
}

const backlog = 1;

// Runs in a worker thread: listens, then blocks that thread's event loop (without spinning) so
// nothing ever accepts, until the test wakes it to close.
const listener = `
const net = require('node:net');
const { parentPort, workerData } = require('node:worker_threads');
const server = net.createServer();
server.listen({ port: 0, host: '127.0.0.1', backlog: ${backlog} }, () => {
  parentPort.postMessage(server.address().port);
  Atomics.wait(new Int32Array(workerData), 0, 0);
  server.close();
});
`;

export async function startUnansweredPort(): Promise<UnansweredPort> {
  const gate = new SharedArrayBuffer(4);
  const worker = new Worker(listener, { eval: true, workerData: gate });
  const [port] = (await once(worker, 'message')) as [number];
  // Linux queues backlog + 1 finished handshakes; these fill the queue, so the next SYN is dropped.
  const fillers: net.Socket[] = [];
  for (let i = 0; i < backlog + 1; i++) {
    const socket = net.connect({ port, host: '127.0.0.1' });
    fillers.push(socket);
    await once(socket, 'connect');
  }
  return {
    port,
    async close() {
      for (const socket of fillers) socket.destroy();
      const flag = new Int32Array(gate);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      await worker.terminate();
    },
  };
}
