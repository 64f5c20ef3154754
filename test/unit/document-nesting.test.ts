import { describe, expect, it } from 'vitest';
import { nestingOf } from '../../src/graphql/document-nesting-limit.js';

describe('nestingOf', () => {
  it.each([
    ['', 0],
    ['{ a }', 1],
    ['{ a { b(x: [1, { c: 2 }]) } }', 5],
    ['{ a(s: "{{{{ [[[ ((((") }', 2],
    ['{ a(s: "escaped \\" {{{{") }', 2],
    ['{ a(s: """ {{{{ \\""" {{{{ """) }', 2],
    ['{ a # {{{{ a comment\n b }', 1],
    ['} } } { a }', 1],
    [`${'{ a '.repeat(1600)}${'}'.repeat(1600)}`, 1600],
  ])('%j nests %i deep', (source, depth) => {
    expect(nestingOf(source)).toBe(depth);
  });
});
