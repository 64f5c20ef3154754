import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type { ClusterNode } from '../../src/stores/redis/client.js';
import { freePort } from '../../scripts/free-port.js';
import { startTcpRelay, type TcpRelay } from './tcp-relay.js';

const run = promisify(execFile);

export interface LocalRedisCluster {
  /** Seed nodes for the clients: the relays, which the nodes announce as their addresses. */
  nodes: ClusterNode[];
  /** One relay per master, in front of it: count its round trips, stall it, refuse it. */
  relays: TcpRelay[];
  /** A direct connection to each master (not through its relay), for checks and cleanup. */
  masters: Redis[];
  /** Stops the servers and relays and removes their folder. */
  stop(): Promise<void>;
}

/**
 * A real Redis Cluster of `masters` masters and no replicas, started from
 * the machine's `redis-server` on ports and in a folder of its own and
 * joined with `redis-cli --cluster create`. Each node announces the port of
 * a TCP relay in front of it, so every client connection (the cluster
 * client follows the announced addresses) goes through a relay the test
 * controls; the cluster bus stays direct. With `relays: false` the nodes
 * announce their own ports and clients reach them directly (a benchmark's
 * timed runs), and `relays` is empty.
 */
export async function startRedisCluster(masters = 3, options: { relays?: boolean } = {}): Promise<LocalRedisCluster> {
  const withRelays = options.relays ?? true;
  const folder = await mkdtemp(join(tmpdir(), 'segments-redis-cluster-'));
  const processes: ChildProcess[] = [];
  const relays: TcpRelay[] = [];
  const direct: Redis[] = [];
  const ports: number[] = [];
  const stop = async () => {
    for (const redis of direct) redis.disconnect();
    await Promise.all(relays.map((relay) => relay.close()));
    await Promise.all(processes.map((child) => stopProcess(child)));
    await rm(folder, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await portWithFreeBus();
      const relay = withRelays ? await startTcpRelay({ host: '127.0.0.1', port }) : null;
      const child = spawn(
        'redis-server',
        [
          '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(folder, `nodes-${port}.conf`),
          ...(relay ? ['--cluster-announce-ip', '127.0.0.1', '--cluster-announce-port', String(relay.port), '--cluster-announce-bus-port', String(port + 10_000)] : []),
          '--cluster-node-timeout', '5000', '--save', '', '--appendonly', 'no', '--dir', folder, '--logfile', join(folder, `redis-${port}.log`),
        ],
        { stdio: 'ignore' },
      );
      processes.push(child);
      if (relay) relays.push(relay);
      ports.push(port);
    }
    for (const port of ports) direct.push(await connected(port));
    await run('redis-cli', ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes']);
    await untilClusterOk(direct);
    const announced = withRelays ? relays.map((relay) => relay.port) : ports;
    return { nodes: announced.map((port) => ({ host: '127.0.0.1', port })), relays, masters: direct, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A free port whose cluster bus port (port + 10000) is free too. */
async function portWithFreeBus(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 <= 65_535 && (await isFree(port + 10_000))) return port;
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.on('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

async function connected(port: number): Promise<Redis> {
  const redis = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: null, retryStrategy: () => 50 });
  // Refused until the server listens, and again once it is stopped: nothing to report.
  redis.on('error', () => undefined);
  for (let i = 0; i < 100; i++) {
    if ((await redis.ping().catch(() => null)) === 'PONG') return redis;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  redis.disconnect();
  throw new Error(`redis-server on port ${port} did not start`);
}

async function untilClusterOk(nodes: readonly Redis[]): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const states = await Promise.all(nodes.map((node) => node.call('CLUSTER', 'INFO') as Promise<string>));
    if (states.every((info) => info.includes('cluster_state:ok'))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the Redis Cluster did not reach cluster_state:ok');
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once('exit', () => done());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}
