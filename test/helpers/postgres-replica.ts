import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../../scripts/free-port.js';

const run = promisify(execFile);
// Debian puts each major version's server binaries in /usr/lib/postgresql/<version>/bin, off PATH.
const BIN = process.env.PG_BIN ?? `/usr/lib/postgresql/${readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))[0]}/bin`;

export interface PrimaryWithReplica {
  /** The primary server, without a database: `${primaryUrl}/<database>`. */
  primaryUrl: string;
  /** The streaming replica of it, without a database. */
  replicaUrl: string;
  replicaPort: number;
  /** Stops replay on the replica (it keeps receiving): it falls behind. */
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  /** Stops the replica at once, as a crash would. */
  stopReplica(): Promise<void>;
  /** Stops both servers and removes their folder. */
  stop(): Promise<void>;
}

/**
 * A Postgres primary of the test's own (`initdb`, trust auth, on a free
 * port) and a real streaming replica of it (`pg_basebackup -R`, then
 * `pg_ctl start` on another port), as user postgres in a temp folder. A
 * primary of its own, rather than the shared server, because the shared
 * server's pg_hba admits no replication connection, and because a base
 * backup of it would copy every other test's database.
 */
export async function startPrimaryWithReplica(): Promise<PrimaryWithReplica> {
  const folder = await mkdtemp(join(tmpdir(), 'segments-replica-'));
  const asPostgres = userInfo().uid === 0;
  if (asPostgres) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(folder, Number(stdout.trim()), Number(gid.trim()));
  }
  await chmod(folder, 0o700);
  const sh = (command: string) => (asPostgres ? run('su', ['postgres', '-c', `cd ${folder} && ${command}`]) : run('sh', ['-c', `cd ${folder} && ${command}`]));
  const primaryPort = await freePort();
  const replicaPort = await freePort();
  const primaryData = join(folder, 'primary');
  const replicaData = join(folder, 'replica');
  const started: string[] = [];
  const stop = async () => {
    for (const data of started.reverse()) await sh(`${BIN}/pg_ctl -D ${data} -m immediate -w stop`).catch(() => undefined);
    await rm(folder, { recursive: true, force: true });
  };
  try {
    await sh(`${BIN}/initdb -D ${primaryData} -A trust -U postgres --no-sync > ${folder}/initdb.log 2>&1`);
    const options = `-p ${primaryPort} -k ${folder} -c listen_addresses=127.0.0.1 -c fsync=off -c wal_level=replica -c max_wal_senders=4 -c shared_buffers=64MB`;
    await sh(`${BIN}/pg_ctl -D ${primaryData} -o '${options}' -l ${folder}/primary.log -w start`);
    started.push(primaryData);
    await sh(`${BIN}/pg_basebackup -h 127.0.0.1 -p ${primaryPort} -U postgres -D ${replicaData} -R -X stream --checkpoint=fast`);
    const replicaOptions = `-p ${replicaPort} -k ${folder} -c listen_addresses=127.0.0.1 -c fsync=off -c hot_standby=on`;
    await sh(`${BIN}/pg_ctl -D ${replicaData} -o '${replicaOptions}' -l ${folder}/replica.log -w start`);
    started.push(replicaData);
    const replicaUrl = `postgres://postgres@127.0.0.1:${replicaPort}`;
    const onReplica = async (sql: string) => {
      const client = new pg.Client({ connectionString: `${replicaUrl}/postgres` });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    };
    return {
      primaryUrl: `postgres://postgres@127.0.0.1:${primaryPort}`,
      replicaUrl,
      replicaPort,
      pauseReplay: () => onReplica('SELECT pg_wal_replay_pause()'),
      resumeReplay: () => onReplica('SELECT pg_wal_replay_resume()'),
      stopReplica: async () => {
        await sh(`${BIN}/pg_ctl -D ${replicaData} -m immediate -w stop`);
        started.splice(started.indexOf(replicaData), 1);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
