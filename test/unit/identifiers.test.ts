import { describe, expect, it } from 'vitest';
import { BadUserInputError } from '../../src/platform/errors.js';
import { decodeSegmentCursor, encodeSegmentCursor } from '../../src/graphql/cursor.js';
import { parseSegmentId } from '../../src/domain/segment-id.js';

describe('parseSegmentId', () => {
  it.each([
    ['1', 1],
    ['42', 42],
    ['2147483647', 2147483647],
    ['2147483648', null],
    ['0', null],
    ['-3', null],
    ['007', null],
    ['1.0', null],
    ['1e3', null],
    [' 1', null],
    ['', null],
    ['abc', null],
  ])('%j -> %j', (input, expected) => {
    expect(parseSegmentId(input)).toBe(expected);
  });
});

describe('segment cursors', () => {
  it.each([1, 99, 2147483647])('round-trip id %i', (id) => {
    expect(decodeSegmentCursor(encodeSegmentCursor(id), 'after')).toBe(id);
  });

  it.each(['', 'garbage', Buffer.from('segment:abc').toString('base64url'), Buffer.from('user:5').toString('base64url')])(
    'reject %j as BAD_USER_INPUT on the named field',
    (cursor) => {
      let error: unknown;
      try {
        decodeSegmentCursor(cursor, 'after');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(BadUserInputError);
      expect((error as BadUserInputError).extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'after' });
    },
  );
});
