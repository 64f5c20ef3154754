import net from 'node:net';

export interface TcpRelay {
  /** The loopback port that reaches the target through the relay. */
  port: number;
  /** Round trips since the last reset, over every connection made through the relay. */
  readonly roundTrips: number;
  /** Bytes clients sent since the last reset, answered or not (a stalled relay counts them too). */
  readonly bytesReceived: number;
  /**
   * Round trips since the last reset of the connections that named themselves
   * `name` (`CLIENT SETNAME`, which ioredis sends for its `connectionName`).
   */
  roundTripsOf(name: string): number;
  reset(): void;
  /** Black-holes the target: connections stay open and new ones are accepted, but nothing is answered. */
  stall(): void;
  /** Holds every answer this long before passing it on: a slow target (0: none). */
  delay(ms: number): void;
  /** Refuses connections: open ones are dropped and the port stops listening. */
  refuse(): Promise<void>;
  /** Relays again, on the same port; connections opened while stalled are dropped, so clients reconnect. */
  restore(): Promise<void>;
  /**
   * Relays new connections again but leaves the open ones black holes, never
   * closed: what a client sees after a failover behind a DNS name or an
   * expired NAT entry. Only a client that drops its connection recovers.
   */
  heal(): void;
  close(): Promise<void>;
}

/**
 * A TCP relay in front of the real Redis or Postgres that a test controls: it
 * counts round trips, and it can stall or refuse, so a test sees what callers
 * get while a store is away without touching the shared servers.
 *
 * Round trips: a client write that starts while no reply is pending opens a
 * new one, and a reply closes it. However many commands a pipeline carries,
 * it is one round trip here, and N sequential commands are N: what the
 * latency of a request really depends on.
 */
export async function startTcpRelay(target: { host: string; port: number }): Promise<TcpRelay> {
  let roundTrips = 0;
  const named = new Map<string, number>();
  let bytesReceived = 0;
  let stalled = false;
  let delayMs = 0;
  const sockets = new Set<net.Socket>();
  // Client connections that stay black holes after heal().
  const lost = new WeakSet<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    if (stalled) {
      // Accepted and never answered: what a black-holed server looks like to a client.
      client.on('data', (chunk) => (bytesReceived += chunk.length)).on('error', () => client.destroy()).on('close', () => sockets.delete(client));
      return;
    }
    const upstream = net.connect(target);
    sockets.add(upstream);
    let awaitingReply = false;
    let name: string | undefined;
    client.on('data', (chunk) => {
      bytesReceived += chunk.length;
      if (stalled || lost.has(client)) return;
      name ??= /SETNAME\r\n\$\d+\r\n([^\r]*)\r\n/i.exec(chunk.toString('latin1'))?.[1];
      if (!awaitingReply) {
        roundTrips++;
        if (name !== undefined) named.set(name, (named.get(name) ?? 0) + 1);
      }
      awaitingReply = true;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (stalled || lost.has(client)) return;
      awaitingReply = false;
      if (delayMs > 0) setTimeout(() => client.writable && client.write(chunk), delayMs);
      else client.write(chunk);
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
  const dropAll = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  return {
    port,
    get roundTrips() {
      return roundTrips;
    },
    get bytesReceived() {
      return bytesReceived;
    },
    roundTripsOf(name) {
      return named.get(name) ?? 0;
    },
    reset() {
      roundTrips = 0;
      named.clear();
      bytesReceived = 0;
    },
    stall() {
      stalled = true;
    },
    delay(ms) {
      delayMs = ms;
    },
    heal() {
      for (const socket of sockets) lost.add(socket);
      stalled = false;
    },
    async refuse() {
      stalled = false;
      dropAll();
      if (server.listening) await new Promise((resolve) => server.close(resolve));
    },
    async restore() {
      // A connection that lived through a stall has lost replies: drop it, as a real outage would.
      stalled = false;
      delayMs = 0;
      dropAll();
      if (!server.listening) await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    async close() {
      dropAll();
      if (server.listening) await new Promise((resolve) => server.close(resolve));
    },
  };
}
