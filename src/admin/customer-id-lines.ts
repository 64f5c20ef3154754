import { isUtf8 } from 'node:buffer';
import { BadUserInputError, MalformedLineError } from '../platform/errors.js';

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const QUOTE = 0x22;
const COMMA = 0x2c;
const DEL = 0x7f;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
// The most bytes a UTF-8 character takes.
const MAX_CHAR_BYTES = 4;

/**
 * Reads a member list: one customer id per line, UTF-8, lines ending in LF
 * or CRLF, the last newline optional, a leading byte-order mark ignored, no
 * header line. Yields the ids as blocks of whole lines, each ending in LF
 * (CRs and the mark removed), as they arrive: never more than a chunk and one
 * partial line is held, whatever the size of the list.
 *
 * Throws MalformedLineError (BAD_USER_INPUT, with the line number) at the
 * first line that is not an id: an empty line, one longer than
 * `maxIdLength` characters, with a comma, a double quote, a control
 * character or spaces around it, or bytes that are not UTF-8 (docs/api.md
 * "Member import"); BAD_USER_INPUT when the list holds no id. Duplicates are left to the
 * consumer, which imports a set.
 */
export async function* customerIdLines(body: AsyncIterable<Buffer>, maxIdLength: number): AsyncGenerator<Buffer> {
  const maxLineBytes = maxIdLength * MAX_CHAR_BYTES + 1; // + a CR before the LF
  let carry: Buffer = Buffer.alloc(0);
  let lines = 0;
  let atStart = true;
  for await (const chunk of body) {
    let buffer: Buffer = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    if (atStart) {
      // Too short to tell whether the list starts with a byte-order mark: wait for more.
      if (buffer.length < BOM.length && buffer.equals(BOM.subarray(0, buffer.length))) {
        carry = buffer;
        continue;
      }
      atStart = false;
      if (buffer.subarray(0, BOM.length).equals(BOM)) buffer = buffer.subarray(BOM.length);
    }
    const end = buffer.lastIndexOf(LF) + 1;
    if (end > 0) {
      const checked = checkedLines(buffer.subarray(0, end), lines, maxIdLength);
      lines = checked.last;
      yield checked.block;
    }
    carry = buffer.subarray(end);
    if (carry.length > maxLineBytes) throw tooLong(lines + 1, maxIdLength);
  }
  if (carry.length > 0) {
    const checked = checkedLines(Buffer.concat([carry, Buffer.from([LF])]), lines, maxIdLength);
    lines = checked.last;
    yield checked.block;
  }
  if (lines === 0) throw new BadUserInputError('body: the list has no customer id', 'body');
}

/**
 * Checks a block of whole lines (ending in LF) numbered from `before + 1`,
 * and returns it without the CRs of CRLF endings, with the number of its last
 * line. One pass over the bytes; a copy only when the block has CRs.
 */
function checkedLines(block: Buffer, before: number, maxIdLength: number): { block: Buffer; last: number } {
  let line = before + 1;
  let start = 0;
  let crs = 0;
  for (let i = 0; i < block.length; i++) {
    const byte = block[i]!;
    if (byte === LF) {
      const stop = i > start && block[i - 1] === CR ? i - 1 : i;
      checkLine(block, start, stop, line, maxIdLength);
      if (stop < i) crs++;
      line++;
      start = i + 1;
    } else if (byte === COMMA || byte === QUOTE) {
      throw new MalformedLineError(line, `has a ${byte === COMMA ? 'comma' : 'double quote'}: one customer id per line, without quotes`);
    } else if ((byte < SPACE || byte === DEL) && !(byte === CR && block[i + 1] === LF)) {
      throw new MalformedLineError(line, 'has a control character');
    }
  }
  if (!isUtf8(block)) {
    // Name the first line that is not UTF-8.
    for (let s = 0, n = before + 1; s < block.length; n++) {
      const e = block.indexOf(LF, s);
      if (!isUtf8(block.subarray(s, e))) throw new MalformedLineError(n, 'is not UTF-8');
      s = e + 1;
    }
  }
  const last = line - 1;
  if (crs === 0) return { block, last };
  const out = Buffer.allocUnsafe(block.length - crs);
  let o = 0;
  for (let i = 0; i < block.length; i++) if (!(block[i] === CR && block[i + 1] === LF)) out[o++] = block[i]!;
  return { block: out, last };
}

function checkLine(block: Buffer, start: number, stop: number, line: number, maxIdLength: number): void {
  if (stop === start) throw new MalformedLineError(line, 'is empty');
  if (block[start] === SPACE || block[stop - 1] === SPACE) throw new MalformedLineError(line, 'has spaces before or after the customer id');
  // Bytes bound characters from above: only a long line is decoded to count them.
  if (stop - start > maxIdLength && block.toString('utf8', start, stop).length > maxIdLength) throw tooLong(line, maxIdLength);
}

function tooLong(line: number, maxIdLength: number): MalformedLineError {
  return new MalformedLineError(line, `is longer than ${maxIdLength} characters`);
}
