import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { adminToken, readerToken, token } from '../helpers/tokens.js';

const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

/** The cookie a `Set-Cookie` header sets, as a `Cookie` header would send it back. */
const cookiePair = (setCookie: string | null) => setCookie?.split(';')[0] ?? '';
const attributes = (setCookie: string | null) => new Set((setCookie ?? '').split(';').slice(1).map((part) => part.trim()));

describe('queue board at /admin/queues', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  let secure: RunningSubgraph;
  let admin: string;
  let origin: string;

  beforeAll(async () => {
    stores = await createTestStores();
    subgraph = await startSubgraph(stores);
    secure = await startSubgraph(stores, { introspection: false, landingPage: false, secureAdminCookie: true });
    admin = await adminToken();
    origin = new URL(subgraph.url).origin;
  });
  afterAll(async () => {
    await secure?.stop();
    await subgraph?.stop();
    await stores?.dispose();
  });

  const request = (path: string, init: RequestInit = {}, server = subgraph) =>
    fetch(new URL(path, server.url), { redirect: 'manual', ...init });
  const bearer = (value: string) => ({ authorization: `Bearer ${value}` });
  const signIn = (value: string, headers: Record<string, string> = { origin }, server = subgraph) =>
    request('/admin/sign-in', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: BROWSER, ...headers },
      body: new URLSearchParams({ token: value }).toString(),
    }, server);

  describe('without a session', () => {
    it('sends a browser to the sign-in page', async () => {
      const response = await request('/admin/queues', { headers: { accept: BROWSER } });
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/admin/sign-in');
    });

    it('answers an API client 401 JSON', async () => {
      const response = await request('/admin/queues/api/queues');
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
      expect(((await response.json()) as any).errors[0].extensions.code).toBe('UNAUTHENTICATED');
    });

    it('answers 401 to a token that does not verify', async () => {
      const forged = await token(['segments:write'], { secret: 'another-secret-that-is-at-least-32-characters' });
      const response = await request('/admin/queues/api/queues', { headers: bearer(forged) });
      expect(response.status).toBe(401);
    });
  });

  it('answers 403 to a token without segments:write', async () => {
    const response = await request('/admin/queues/api/queues', { headers: bearer(await readerToken()) });
    expect(response.status).toBe(403);
    expect(((await response.json()) as any).errors[0].extensions.code).toBe('FORBIDDEN');
  });

  it('serves the board to a bearer token with segments:write', async () => {
    const response = await request('/admin/queues', { headers: { ...bearer(admin), accept: BROWSER } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.text()).toContain('<base href="/admin/queues/" />');
  });

  it('lists the three queues with their job counts', async () => {
    await subgraph.recomputeQueue.add('recompute-segment', { segmentId: 424242 });
    const response = await request('/admin/queues/api/queues', { headers: bearer(admin) });
    expect(response.status).toBe(200);
    const { queues } = (await response.json()) as { queues: Array<{ name: string; counts: Record<string, number> }> };
    expect(queues.map((queue) => queue.name).sort()).toEqual(['maintenance', 'order-events', 'segment-recompute']);
    expect(queues.find((queue) => queue.name === 'segment-recompute')!.counts.waiting).toBe(1);
    expect(queues.find((queue) => queue.name === 'order-events')!.counts.waiting).toBe(0);
  });

  it('lets a script with a bearer token change state without an Origin header', async () => {
    const paused = await request('/admin/queues/api/queues/order-events/pause', { method: 'PUT', headers: bearer(admin) });
    expect(paused.status).toBe(200);
    const listed = (await (await request('/admin/queues/api/queues', { headers: bearer(admin) })).json()) as any;
    expect(listed.queues.find((queue: { name: string }) => queue.name === 'order-events').isPaused).toBe(true);
    const resumed = await request('/admin/queues/api/queues/order-events/resume', { method: 'PUT', headers: bearer(admin) });
    expect(resumed.status).toBe(200);
  });

  describe('sign-in for a person', () => {
    it('shows a form that posts the token', async () => {
      const response = await request('/admin/sign-in');
      expect(response.status).toBe(200);
      expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
      const page = await response.text();
      expect(page).toContain('<form method="post" action="/admin/sign-in">');
      expect(page).toContain('name="token"');
    });

    it('exchanges an admin token for an HttpOnly, SameSite=Strict cookie on /admin that the token bounds', async () => {
      const response = await signIn(await token(['segments:write'], { expiresIn: '120s' }));
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/admin/queues');
      const setCookie = response.headers.get('set-cookie');
      const flags = attributes(setCookie);
      expect(flags).toContain('HttpOnly');
      expect(flags).toContain('SameSite=Strict');
      expect(flags).toContain('Path=/admin');
      expect(flags).not.toContain('Secure');
      const maxAge = Number([...flags].find((flag) => flag.startsWith('Max-Age='))!.slice('Max-Age='.length));
      expect(maxAge).toBeGreaterThan(0);
      expect(maxAge).toBeLessThanOrEqual(120);

      const board = await request('/admin/queues', { headers: { cookie: cookiePair(setCookie), accept: BROWSER } });
      expect(board.status).toBe(200);
      expect(await board.text()).toContain('<title>Segments queues</title>');
      const api = await request('/admin/queues/api/queues', { headers: { cookie: cookiePair(setCookie) } });
      expect(api.status).toBe(200);
    });

    it('marks the cookie Secure where the server says so (production)', async () => {
      const response = await signIn(admin, { origin: new URL(secure.url).origin }, secure);
      expect(response.status).toBe(303);
      expect(attributes(response.headers.get('set-cookie'))).toContain('Secure');
    });

    it('refuses a token without the scope, or one that does not verify, and sets no cookie', async () => {
      const reader = await signIn(await readerToken());
      expect(reader.status).toBe(403);
      expect(reader.headers.get('set-cookie')).toBeNull();
      expect(await reader.text()).toContain('segments:write');
      const invalid = await signIn('not-a-token');
      expect(invalid.status).toBe(401);
      expect(invalid.headers.get('set-cookie')).toBeNull();
    });

    it('refuses a sign-in posted from another site', async () => {
      for (const headers of [{ origin: 'https://evil.example' }, {}] as Array<Record<string, string>>) {
        const response = await signIn(admin, headers);
        expect(response.status).toBe(403);
        expect(response.headers.get('set-cookie')).toBeNull();
      }
    });

    it('clears the cookie on sign-out', async () => {
      const response = await request('/admin/sign-out', { method: 'POST', headers: { origin, accept: BROWSER } });
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/admin/sign-in');
      const setCookie = response.headers.get('set-cookie');
      expect(cookiePair(setCookie)).toBe('segments_admin=');
      expect(attributes(setCookie)).toContain('Max-Age=0');
      expect(attributes(setCookie)).toContain('Path=/admin');
    });

    it('sends a browser with an expired session back to the sign-in page and clears the cookie', async () => {
      const expired = await token(['segments:write'], { expiresIn: Math.floor(Date.now() / 1000) - 10 });
      const response = await request('/admin/queues', { headers: { cookie: `segments_admin=${expired}`, accept: BROWSER } });
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/admin/sign-in');
      expect(attributes(response.headers.get('set-cookie'))).toContain('Max-Age=0');
    });
  });

  describe('cross-site requests with the session cookie', () => {
    let cookie: string;
    beforeAll(async () => {
      cookie = cookiePair((await signIn(admin)).headers.get('set-cookie'));
    });

    it('refuses a state change from another origin, or with no Origin', async () => {
      await subgraph.recomputeQueue.add('recompute-segment', { segmentId: 434343 });
      const before = await subgraph.recomputeQueue.getWaitingCount();
      for (const headers of [{ origin: 'https://evil.example' }, { origin: 'null' }, {}] as Array<Record<string, string>>) {
        const response = await request('/admin/queues/api/queues/segment-recompute/clean/waiting', {
          method: 'PUT',
          headers: { cookie, ...headers },
        });
        expect(response.status).toBe(403);
      }
      expect(await subgraph.recomputeQueue.getWaitingCount()).toBe(before);
    });

    it('accepts a state change from the board itself', async () => {
      const response = await request('/admin/queues/api/queues/maintenance/pause', { method: 'PUT', headers: { cookie, origin } });
      expect(response.status).toBe(200);
      expect(await subgraph.maintenanceQueue.isPaused()).toBe(true);
      await request('/admin/queues/api/queues/maintenance/resume', { method: 'PUT', headers: { cookie, origin } });
      expect(await subgraph.maintenanceQueue.isPaused()).toBe(false);
    });
  });
});
