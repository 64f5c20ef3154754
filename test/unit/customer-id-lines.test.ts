import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { customerIdLines } from '../../src/admin/customer-id-lines.js';
import { MalformedLineError } from '../../src/platform/errors.js';

const MAX = 10;

/** What the reader yields for `body` cut into these chunks, as one string. */
async function read(chunks: Buffer[]): Promise<string> {
  async function* body() {
    yield* chunks;
  }
  const out: Buffer[] = [];
  for await (const block of customerIdLines(body(), MAX)) out.push(block);
  return Buffer.concat(out).toString('utf8');
}
const whole = (body: string | Buffer) => read([Buffer.from(body)]);
const failure = (body: string | Buffer) =>
  whole(body).then(
    () => null,
    (error: unknown) => (error instanceof MalformedLineError ? { line: error.line, message: error.message } : { message: String((error as Error).message) }),
  );

describe('customerIdLines', () => {
  it.each([
    ['one id per line', 'a\nb\nc\n', 'a\nb\nc\n'],
    ['no newline after the last id', 'a\nb', 'a\nb\n'],
    ['CRLF endings', 'a\r\nb\r\n', 'a\nb\n'],
    ['a byte-order mark', '\uFEFFa\nb\n', 'a\nb\n'],
    ['duplicates, kept for the consumer', 'a\na\n', 'a\na\n'],
    ['backslashes and other characters, as sent', 'a\\.b\n\u00e9\u4e2d\n', 'a\\.b\n\u00e9\u4e2d\n'],
    ['an id of exactly the longest length', `${'\u00e9'.repeat(MAX)}\n`, `${'\u00e9'.repeat(MAX)}\n`],
  ])('reads %s', async (_name, body, expected) => {
    expect(await whole(body)).toBe(expected);
  });

  it.each([
    ['an empty body', '', { message: 'body: the list has no customer id' }],
    ['a body of a byte-order mark only', '\uFEFF', { message: 'body: the list has no customer id' }],
    ['an empty line', 'a\n\nb\n', { line: 2, message: 'body: line 2 is empty' }],
    ['an empty CRLF line', 'a\r\n\r\n', { line: 2, message: 'body: line 2 is empty' }],
    ['a comma', 'a\nb\nc,d\n', { line: 3, message: 'body: line 3 has a comma: one customer id per line, without quotes' }],
    ['a double quote', '"a"\n', { line: 1, message: 'body: line 1 has a double quote: one customer id per line, without quotes' }],
    ['a NUL byte', 'a\0\n', { line: 1, message: 'body: line 1 has a control character' }],
    ['a CR inside a line', 'a\rb\n', { line: 1, message: 'body: line 1 has a control character' }],
    ['a trailing space', 'a\nb \n', { line: 2, message: 'body: line 2 has spaces before or after the customer id' }],
    ['an id too long', `a\n${'x'.repeat(MAX + 1)}\n`, { line: 2, message: `body: line 2 is longer than ${MAX} characters` }],
    ['a last line too long, without a newline', `a\n${'\u00e9'.repeat(MAX + 1)}`, { line: 2, message: `body: line 2 is longer than ${MAX} characters` }],
    ['bytes that are not UTF-8', Buffer.from([0x61, 0x0a, 0x62, 0xc3, 0x0a]), { line: 2, message: 'body: line 2 is not UTF-8' }],
  ])('refuses %s', async (_name, body, expected) => {
    expect(await failure(body)).toEqual(expected);
  });

  it('refuses a line without end as soon as it is too long to be an id, without waiting for the rest', async () => {
    async function* endless() {
      yield Buffer.from('a\n');
      for (;;) yield Buffer.from('x'.repeat(16));
    }
    await expect(async () => {
      for await (const _ of customerIdLines(endless(), MAX));
    }).rejects.toThrow('body: line 2 is longer than 10 characters');
  });

  it('reads the same however the body is cut into chunks', async () => {
    const body = Buffer.from('\uFEFFa\r\n\u00e9\u4e2d\nb\\c\r\nd');
    const expected = await whole(body);
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: body.length - 1 }), { maxLength: 6 }), async (cuts) => {
        const points = [0, ...cuts.sort((x, y) => x - y), body.length];
        const chunks = points.slice(1).map((end, i) => body.subarray(points[i], end));
        expect(await read(chunks)).toBe(expected);
      }),
    );
  });
});
