// The operator JSON API against a running firmdrop: login, session cookie, CSRF, upload → the FTP manifest names it,
// select, NO_FILE, error statuses, and the OpenAPI document.
import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../server/log.ts';
import { Publisher } from '../server/publisher.ts';
import { startHttp } from '../server/http/server.ts';
import { ADMIN_PASSWORD, startHttpRig, type HttpRig } from './support/http-rig.ts';

interface Session { cookie: string; csrf: string }

async function login(base: string, password = ADMIN_PASSWORD): Promise<{ res: Response; session?: Session }> {
  const res = await fetch(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
  if (res.status !== 200) return { res };
  const cookie = res.headers.get('set-cookie')!;
  const body = await res.json() as { csrfToken: string };
  return { res, session: { cookie: cookie.split(';')[0]!, csrf: body.csrfToken } };
}

function call(base: string, s: Session | undefined, method: string, url: string, body?: unknown, csrf: string | null | undefined = s?.csrf) {
  const headers: Record<string, string> = {};
  if (s) headers.cookie = s.cookie;
  if (csrf !== undefined && csrf !== null) headers['x-csrf-token'] = csrf; // null: send no token
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${base}${url}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

function upload(base: string, s: Session, query: string, bytes: Buffer, csrf = s.csrf) {
  return fetch(`${base}/api/releases?${query}`, {
    method: 'POST', body: new Uint8Array(bytes),
    headers: { cookie: s.cookie, 'x-csrf-token': csrf, 'content-type': 'application/octet-stream' },
  });
}

describe('HTTP operator API (/api/)', function () {
  this.timeout(60_000);
  let rig: HttpRig;
  let s: Session;

  before(async () => {
    rig = await startHttpRig();
    const r = await login(rig.base);
    expect(r.res.status).to.equal(200);
    s = r.session!;
  });
  after(async () => rig?.close());

  it('refuses a wrong password with 401 JSON, and sets an HttpOnly SameSite=Strict cookie on the right one', async () => {
    const bad = await login(rig.base, 'guess');
    expect(bad.res.status).to.equal(401);
    expect(await bad.res.json()).to.deep.equal({ error: 'wrong password' });
    const good = await login(rig.base);
    const cookie = good.res.headers.get('set-cookie')!;
    expect(cookie).to.match(/^firmdrop_session=[A-Za-z0-9_-]{43};/);
    expect(cookie).to.match(/HttpOnly/i);
    expect(cookie).to.match(/SameSite=Strict/i);
    expect(good.session!.csrf).to.match(/^[A-Za-z0-9_-]{43}$/);
  });

  it('marks the cookie Secure when a loopback TLS proxy says the request came over HTTPS', async () => {
    const res = await fetch(`${rig.base}/api/login`, {
      method: 'POST', body: JSON.stringify({ password: ADMIN_PASSWORD }),
      headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https', 'x-forwarded-for': '198.51.100.7' },
    });
    expect(res.status).to.equal(200);
    expect(res.headers.get('set-cookie')).to.match(/; Secure/i);
    expect((await login(rig.base)).res.headers.get('set-cookie')).not.to.match(/; Secure/i);
  });

  it('needs the session for reads (401) and the CSRF token for changes (403), changing nothing', async () => {
    expect((await call(rig.base, undefined, 'GET', '/api/offer')).status).to.equal(401);
    const before = await fsp.readFile(path.join(rig.root, 'UPGRADE.TXT'), 'utf8');
    const noToken = await call(rig.base, s, 'POST', '/api/no-file', undefined, null);
    expect(noToken.status).to.equal(403);
    expect((await noToken.json() as { error: string }).error).to.match(/CSRF/);
    expect((await call(rig.base, s, 'POST', '/api/no-file', undefined, 'x'.repeat(43))).status).to.equal(403);
    const other = (await login(rig.base)).session!;
    expect((await call(rig.base, s, 'POST', '/api/no-file', undefined, other.csrf)).status).to.equal(403); // another session's token
    expect((await upload(rig.base, s, 'name=SENSOR1', Buffer.from('x'), '')).status).to.equal(403);
    expect(await fsp.readFile(path.join(rig.root, 'UPGRADE.TXT'), 'utf8')).to.equal(before);
  });

  it('uploads a binary and publishes it: the FTP manifest names it; then select and NO_FILE, each seen over FTP', async () => {
    const first = Buffer.from('first program bytes');
    let res = await upload(rig.base, s, 'name=PROGA01', first);
    expect(res.status).to.equal(201);
    const r1 = await res.json() as { release: { name: string; version: number; size: number }; offer: { manifest: { file: string } } };
    expect(r1.release).to.deep.include({ name: 'PROGA01', version: 1, size: first.length });
    expect((await rig.ftpGet('UPGRADE.TXT')).toString()).to.match(/^FILE:PROGA01\nPATH:\/\nSIZE:19\nVERSION:1\n/);
    expect((await rig.ftpGet('PROGA01')).equals(first)).to.equal(true);

    res = await upload(rig.base, s, 'name=PROGB02&version=7', Buffer.from('second program'));
    expect(res.status).to.equal(201);
    expect((await rig.ftpGet('UPGRADE.TXT')).toString()).to.match(/^FILE:PROGB02\n.*\nVERSION:7\n/s);

    res = await call(rig.base, s, 'POST', '/api/select', { name: 'PROGA01' });
    expect(res.status).to.equal(200);
    expect((await rig.ftpGet('UPGRADE.TXT')).toString()).to.match(/^FILE:PROGA01\n.*\nVERSION:1\n/s);

    res = await call(rig.base, s, 'POST', '/api/no-file');
    expect(res.status).to.equal(200);
    expect((await rig.ftpGet('UPGRADE.TXT')).toString()).to.equal('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n');

    const list = await (await call(rig.base, s, 'GET', '/api/releases')).json() as { releases: { name: string; md5: string }[]; binaries: { name: string }[] };
    expect(list.releases.map((r) => r.name)).to.deep.equal(['PROGA01', 'PROGB02']);
    expect(list.releases[0]!.md5).to.match(/^[0-9a-f]{32}$/);
    expect(list.binaries.map((b) => b.name)).to.deep.equal(['PROGA01', 'PROGB02']);
    const offer = await (await call(rig.base, s, 'GET', '/api/offer')).json() as { manifest: { file: string }; text: string };
    expect(offer.manifest.file).to.equal('NO_FILE');
  });

  it('answers bad input with a status and a one-line message: 400 name or version, 409 version not higher, 404 no binary', async () => {
    const cases: [Promise<Response>, number, RegExp][] = [
      [upload(rig.base, s, 'name=TOOLONGNAME', Buffer.from('x')), 400, /name/],
      [upload(rig.base, s, 'name=PROGC03&version=300', Buffer.from('x')), 400, /version/],
      [upload(rig.base, s, 'name=PROGC03', Buffer.alloc(0)), 400, /empty/],
      [upload(rig.base, s, 'name=PROGB02&version=3', Buffer.from('another build')), 409, /not higher than v7/],
      [call(rig.base, s, 'POST', '/api/select', { name: 'NOSUCH1' }), 404, /NOSUCH1/],
      [call(rig.base, s, 'POST', '/api/select', { name: 'PROGA01', version: 0 }), 400, /version/],
      [call(rig.base, s, 'GET', '/api/nothing-here'), 404, /no such API route/],
    ];
    for (const [pending, status, message] of cases) {
      const res = await pending;
      const body = await res.json() as { error: string };
      expect(res.status, body.error).to.equal(status);
      expect(body.error).to.match(message);
      expect(body.error).not.to.include('\n');
    }
    expect((await rig.ftpGet('UPGRADE.TXT')).toString()).to.equal('FILE:NO_FILE\nPATH:/\nSIZE:0\nVERSION:0\n');
  });

  it('logs out: the session no longer works', async () => {
    const t = (await login(rig.base)).session!;
    expect((await call(rig.base, t, 'POST', '/api/logout')).status).to.equal(204);
    expect((await call(rig.base, t, 'GET', '/api/session')).status).to.equal(401);
  });

  it('publishes an OpenAPI document, valid JSON, listing every API route', async () => {
    const res = await fetch(`${rig.base}/api/openapi.json`);
    expect(res.status).to.equal(200);
    const doc = JSON.parse(await res.text()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).to.match(/^3\./);
    const listed = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)).sort();
    expect(listed).to.deep.equal([
      'DELETE /api/devices/{login}', 'GET /api/audit', 'GET /api/devices', 'GET /api/events',
      'GET /api/offer', 'GET /api/releases', 'GET /api/rollout', 'GET /api/session', 'POST /api/devices', 'POST /api/login', 'POST /api/logout', 'POST /api/no-file',
      'POST /api/releases', 'POST /api/rollout/abort', 'POST /api/rollout/complete', 'POST /api/rollout/expand', 'POST /api/rollout/pause',
      'POST /api/rollout/resume', 'POST /api/rollout/start', 'POST /api/select',
    ]);
    const uploadOp = doc.paths['/api/releases']!.post as { requestBody: { content: Record<string, unknown> } };
    expect(uploadOp.requestBody.content).to.have.property('application/octet-stream');
    // every route the server has under /api/ is in the document (the document itself aside)
    const routes = rig.app.http!.app.printRoutes({ commonPrefix: false });
    for (const m of routes.matchAll(/(\/api\/[a-z-]+) \(([A-Z, ]+)\)/g)) {
      for (const method of m[2]!.split(', ').filter((x) => x !== 'HEAD')) {
        if (m[1] !== '/api/openapi.json') expect(listed, `${method} ${m[1]}`).to.include(`${method} ${m[1]}`);
      }
    }
  });
});

describe('HTTP operator API: limits', function () {
  this.timeout(30_000);

  it('answers 503 to logins when no admin password is configured', async () => {
    const rig = await startHttpRig({ admin: false });
    try {
      const res = await login(rig.base, 'anything');
      expect(res.res.status).to.equal(503);
      expect((await res.res.json() as { error: string }).error).to.match(/FIRMDROP_ADMIN_PASSWORD/);
    } finally {
      await rig.close();
    }
  });

  it('answers 413 to an upload over the cap and leaves nothing behind', async () => {
    const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-http-cap-'));
    const log = createLogger({ level: 'silent' });
    const publisher = new Publisher({ root, logger: log });
    await publisher.reconcile();
    const http = await startHttp({ port: 0, publisher, users: { users: [] }, adminPassword: 'pw', maxUploadBytes: 1000, log });
    try {
      const base = `http://127.0.0.1:${http.port}`;
      const s = (await login(base, 'pw')).session!;
      const res = await upload(base, s, 'name=BIGPROG', Buffer.alloc(5000, 1));
      expect(res.status).to.equal(413);
      expect((await res.json() as { error: string }).error).to.match(/over 1000 bytes/);
      expect(await fsp.readdir(root)).to.deep.equal(['.firmdrop', 'UPGRADE.TXT']);
      expect(await fsp.readdir(path.join(root, '.firmdrop', 'uploads')).catch(() => [])).to.deep.equal([]);
    } finally {
      await http.close();
      await fsp.rm(root, { recursive: true, force: true });
    }
  });
});

describe('admin password sources', () => {
  it('reads the first line of --admin-password-file (over the variable), and refuses an empty or unreadable file in one line', async () => {
    const { loadAdminPassword } = await import('../server/http/admin-password.ts');
    const { ConfigError } = await import('../server/config.ts');
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'firmdrop-adminpw-'));
    try {
      const file = path.join(dir, 'pw');
      await fsp.writeFile(file, 's3cret words\r\nsecond line\n');
      expect(await loadAdminPassword({ adminPassword: 'from-env', adminPasswordFile: file })).to.equal('s3cret words');
      expect(await loadAdminPassword({ adminPassword: 'from-env' })).to.equal('from-env');
      expect(await loadAdminPassword({})).to.equal(undefined);
      await fsp.writeFile(file, '\nsecond\n');
      const empty = await loadAdminPassword({ adminPasswordFile: file }).catch((e: Error) => e);
      expect(empty).to.be.instanceOf(ConfigError);
      expect((empty as Error).message).to.match(/first line \(the password\) is empty$/);
      const missing = await loadAdminPassword({ adminPasswordFile: path.join(dir, 'nope') }).catch((e: Error) => e);
      expect((missing as Error).message).to.equal(`--admin-password-file ${path.join(dir, 'nope')}: cannot be read (ENOENT)`);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
