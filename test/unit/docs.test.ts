import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { Kind, parse } from 'graphql';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** The text outside fenced code blocks, where links and headings are Markdown. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '');
}

/** Heading anchors as GitHub writes them: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const [, text] of prose(markdown).matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = text!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}_\- ]/gu, '')
      .replaceAll(' ', '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    result.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return result;
}

function relativeLinks(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)].map(([, url]) => url!).filter((url) => !/^[a-z]+:/i.test(url));
}

describe('README.md and docs/', () => {
  it.each(DOCS)('%s: every relative link names a file that exists, and a heading in it', (doc) => {
    const broken: string[] = [];
    for (const url of relativeLinks(read(doc))) {
      const [path, fragment] = url.split('#') as [string, string | undefined];
      const target = path === '' ? doc : normalize(join(dirname(doc), path));
      if (!existsSync(join(ROOT, target))) broken.push(`${url}: no file ${target}`);
      else if (fragment && target.endsWith('.md') && !anchors(read(target)).has(fragment)) broken.push(`${url}: no heading #${fragment} in ${target}`);
    }
    expect(broken).toEqual([]);
  });

  it('keeps README.md a front door of at most 300 lines', () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(300);
  });

  it("lists every field of the schema's root and entity types in the README's contract at a glance", () => {
    const readme = read('README.md');
    const start = readme.indexOf('\n## The contract at a glance\n');
    expect(start).toBeGreaterThan(0);
    const glance = /```graphql\n([\s\S]*?)```/.exec(readme.slice(start))![1]!;
    const listed = new Map<string, string>();
    let type = '';
    for (const line of glance.split('\n')) {
      const opening = /^type (\w+)/.exec(line);
      if (opening) type = opening[1]!;
      // Fields are `name: Type` once their arguments are left out, several to a line where they are short.
      const fields = line.replace(/#.*$/, '').replace(/^type \w+[^{]*\{/, '').replace(/\([^)]*\)/g, '');
      for (const [, field] of fields.matchAll(/(?:^|\s)(\w+):/g)) listed.set(`${type}.${field}`, line);
    }

    const schemaFields: string[] = [];
    for (const file of readdirSync(join(ROOT, 'schema')).filter((name) => name.endsWith('.graphql'))) {
      for (const definition of parse(read(`schema/${file}`)).definitions) {
        if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION && definition.kind !== Kind.OBJECT_TYPE_EXTENSION) continue;
        const node = definition;
        if (!['Customer', 'Segment', 'Query', 'Mutation'].includes(node.name.value)) continue;
        for (const field of node.fields ?? []) schemaFields.push(`${node.name.value}.${field.name.value}`);
      }
    }
    expect(schemaFields.length).toBeGreaterThan(30);
    expect(schemaFields.filter((field) => !listed.has(field))).toEqual([]);
    expect([...listed.keys()].filter((field) => !schemaFields.includes(field))).toEqual([]);
  });
});
