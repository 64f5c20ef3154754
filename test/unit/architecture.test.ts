import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The layering docs/architecture.md describes, checked on the import statements.
const root = fileURLToPath(new URL('../../', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir)).flatMap((name) => {
    const relative = path.join(dir, name);
    if (statSync(path.join(root, relative)).isDirectory()) return name === 'generated' ? [] : sourceFiles(relative);
    return name.endsWith('.ts') ? [relative] : [];
  });
}

/** The modules a file imports: project files as root-relative paths, packages by name. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  return [...text.matchAll(/^(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)].map(([, spec]) =>
    spec!.startsWith('.') ? path.join(path.dirname(file), spec!).replace(/\.js$/, '.ts') : spec!,
  );
}

const files = [...sourceFiles('src'), ...sourceFiles('workers')];
const graph = new Map(files.map((file) => [file, importsOf(file)]));

describe('architecture', () => {
  it('reads the import graph', () => {
    expect(graph.get('src/rules/compile-sql.ts')).toContain('src/rules/rule.ts');
    expect(graph.get('workers/index.ts')).toContain('src/jobs/recompute-queue.ts');
    expect(graph.get('src/http/server.ts')).toContain('@apollo/server');
  });

  it('keeps the entry point alone at the root of src/', () => {
    expect(files.filter((file) => path.dirname(file) === 'src')).toEqual(['src/index.ts']);
  });

  it('keeps workers/ to the worker role: its composition root and one processor per job kind', () => {
    expect(files.filter((file) => file.startsWith('workers/') && file !== 'workers/index.ts' && !file.endsWith('.processor.ts'))).toEqual([]);
  });

  it('keeps the rule language pure: rules/ imports only rules/, domain/ and zod', () => {
    for (const file of files.filter((f) => f.startsWith('src/rules/'))) {
      for (const target of graph.get(file)!) expect([file, target]).toEqual([file, expect.stringMatching(/^(src\/(rules|domain)\/|zod$)/)]);
    }
  });

  it('keeps domain/ free of imports', () => {
    for (const file of files.filter((f) => f.startsWith('src/domain/'))) expect([file, graph.get(file)]).toEqual([file, []]);
  });

  it.each([
    ['workers/', /^src\/(http|graphql|admin|auth|serving)\//],
    ['src/pipeline/', /^(src\/(http|graphql|admin|auth|serving)\/|src\/platform\/config\.ts$|workers\/)/],
    ['src/serving/', /^(src\/(http|graphql|admin|auth|pipeline)\/|src\/platform\/config\.ts$|workers\/)/],
    ['src/stores/', /^(src\/(http|graphql|admin|auth|serving|pipeline)\/|src\/platform\/config\.ts$|workers\/)/],
    ['src/admin/', /^(src\/(http|graphql|serving|pipeline)\/|src\/platform\/config\.ts$|workers\/)/],
    ['src/jobs/', /^(src\/(http|graphql|admin|auth|serving|pipeline|stores)\/|workers\/)/],
    ['src/graphql/', /^(src\/http\/|workers\/)/],
    ['src/rules/', /^(src\/(?!rules\/|domain\/)|workers\/)/],
  ])('keeps %s away from the layers above it', (layer, forbidden) => {
    for (const file of files.filter((f) => f.startsWith(layer))) {
      expect([file, graph.get(file)!.filter((target) => forbidden.test(target))]).toEqual([file, []]);
    }
  });

  it('lets only the entry point import the roles: http/ and workers/', () => {
    for (const file of files.filter((f) => f !== 'src/index.ts' && !f.startsWith('src/http/') && !f.startsWith('workers/'))) {
      expect([file, graph.get(file)!.filter((target) => /^(src\/http\/|workers\/)/.test(target))]).toEqual([file, []]);
    }
  });

  it('keeps Lua in .lua files loaded with defineCommand, not in TypeScript strings', () => {
    expect(files.filter((file) => /redis\.call\(/.test(readFileSync(path.join(root, file), 'utf8')))).toEqual([]);
    expect(readdirSync(path.join(root, 'src/stores/redis/commands')).sort()).toEqual(['append-membership-events.lua', 'apply-membership-changes.lua', 'read-memberships.lua']);
  });

  it('has no import cycles', () => {
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[][] = [];
    const visit = (file: string, trail: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...trail.slice(trail.indexOf(file)), file]);
        return;
      }
      state.set(file, 'visiting');
      for (const target of graph.get(file) ?? []) if (graph.has(target)) visit(target, [...trail, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    expect(cycles).toEqual([]);
  });
});
