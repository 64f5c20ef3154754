import type http from 'node:http';
import { describe, expect, it } from 'vitest';
import { endedSessionCookie, mayChangeState, sessionCookie, sessionToken } from '../../src/http/queue-board/admin-session.js';

const request = (method: string, headers: http.IncomingHttpHeaders) => ({ method, headers }) as http.IncomingMessage;

describe('mayChangeState', () => {
  const cases: Array<[method: string, headers: http.IncomingHttpHeaders, allowed: boolean]> = [
    ['GET', { host: 'board.example' }, true],
    ['HEAD', { host: 'board.example', origin: 'https://evil.example' }, true],
    ['PUT', { host: 'board.example', origin: 'https://board.example' }, true],
    ['POST', { host: '127.0.0.1:4001', origin: 'http://127.0.0.1:4001' }, true],
    ['PUT', { host: 'board.example' }, false],
    ['PUT', { host: 'board.example', origin: 'https://evil.example' }, false],
    ['POST', { host: '127.0.0.1:4001', origin: 'http://127.0.0.1:4002' }, false],
    ['PATCH', { host: 'board.example', origin: 'null' }, false],
    ['DELETE', { host: 'board.example', origin: 'not a url' }, false],
    ['PUT', { origin: 'https://board.example' }, false],
  ];
  it.each(cases)('%s with %j: %s', (method, headers, allowed) => {
    expect(mayChangeState(request(method, headers))).toBe(allowed);
  });
});

describe('session cookie', () => {
  it('reads the session token among other cookies', () => {
    expect(sessionToken(request('GET', { cookie: 'a=1; segments_admin=abc.def.ghi; b=2' }))).toBe('abc.def.ghi');
    expect(sessionToken(request('GET', { cookie: 'xsegments_admin=abc; segments_admin=' }))).toBeUndefined();
    expect(sessionToken(request('GET', {}))).toBeUndefined();
  });

  it('sets HttpOnly, SameSite=Strict, Path=/admin, and Secure only when asked', () => {
    expect(sessionCookie('t', 59.9, false)).toBe('segments_admin=t; Path=/admin; Max-Age=59; HttpOnly; SameSite=Strict');
    expect(sessionCookie('t', -5, true)).toBe('segments_admin=t; Path=/admin; Max-Age=0; HttpOnly; SameSite=Strict; Secure');
    expect(endedSessionCookie(false)).toBe('segments_admin=; Path=/admin; Max-Age=0; HttpOnly; SameSite=Strict');
  });
});
