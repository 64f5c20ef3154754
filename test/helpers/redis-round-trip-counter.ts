import net from 'node:net';

export interface RedisRoundTripCounter {
  /** A redis:// URL that reaches the real Redis through the counter. */
  url: string;
  /** Round trips since the last reset, over every connection made through the counter. */
  readonly roundTrips: number;
  reset(): void;
  close(): Promise<void>;
}

/**
 * A TCP relay in front of Redis that counts round trips: a client write that
 * starts while no reply is pending opens a new one, and a reply closes it.
 * However many commands a pipeline carries, it is one round trip here, and N
 * sequential commands are N: what the latency of a request really depends on.
 */
export async function startRedisRoundTripCounter(target = { host: '127.0.0.1', port: 6379 }): Promise<RedisRoundTripCounter> {
  let roundTrips = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    sockets.add(client).add(upstream);
    let awaitingReply = false;
    client.on('data', (chunk) => {
      if (!awaitingReply) roundTrips++;
      awaitingReply = true;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      awaitingReply = false;
      client.write(chunk);
    });
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', closeBoth).on('error', closeBoth);
    upstream.on('close', closeBoth).on('error', closeBoth);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    get roundTrips() {
      return roundTrips;
    },
    reset() {
      roundTrips = 0;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
