import { readFileSync } from 'node:fs';
import type { RedisClient } from './client.js';

/** The service's Lua scripts, one file each in `commands/` (the build copies them next to the compiled code). */
export type LuaCommandName = 'read-memberships' | 'apply-membership-changes' | 'append-membership-events';

const sources = new Map<LuaCommandName, string>();

/** The text of `commands/<name>.lua`, read once per process. */
export function luaSource(name: LuaCommandName): string {
  let source = sources.get(name);
  if (source === undefined) {
    source = readFileSync(new URL(`./commands/${name}.lua`, import.meta.url), 'utf8');
    sources.set(name, source);
  }
  return source;
}

/**
 * Defines `commands/<file>.lua` as `redis[command]` once per connection:
 * ioredis then sends EVALSHA, and EVAL when Redis answers NOSCRIPT (a
 * restarted Redis), as BullMQ does with its own `commands/`.
 */
export function defineLuaCommand(redis: RedisClient, command: string, file: LuaCommandName, numberOfKeys?: number): void {
  if (command in redis) return;
  redis.defineCommand(command, numberOfKeys === undefined ? { lua: luaSource(file) } : { numberOfKeys, lua: luaSource(file) });
}
