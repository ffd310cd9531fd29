import { createHash } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import * as fc from 'fast-check';
import { startFakeRegistry, sha256, FakeRegistry } from './fake-registry';
import {
  EcrProxy, EcrProxyConfig, RepositorySettings, immutableTagMessage, startEcrProxy, tagIsImmutable, validateConfig, wildcardMatches,
} from '../e2e/lib/ecr-proxy';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const APP: RepositorySettings = {
  imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
  imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'latest' }, { filterType: 'WILDCARD', filter: 'pr-*' }],
};
const CONFIG: EcrProxyConfig = {
  repositories: {
    'app': APP,
    'locked': { imageTagMutability: 'IMMUTABLE' },
    'app-cache': { imageTagMutability: 'MUTABLE' },
    'team/other': { imageTagMutability: 'MUTABLE' },
    'empty': { imageTagMutability: 'IMMUTABLE' },
  },
};

// ------------------------------------------------------------------ rules
describe('tag mutability rules', () => {
  test.each([
    ['latest', 'latest', true],
    ['latest', 'latest2', false],
    ['pr-*', 'pr-12', true],
    ['pr-*', 'pr-', true],
    ['pr-*', 'pr', false],
    ['*-dev', 'feature-dev', true],
    ['*-dev', 'feature-dev-x', false],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'acb', false],
    ['*', 'anything', true],
    ['v1.*', 'v1x2', false],
  ])('WILDCARD %s against %s: %s', (filter, tag, expected) => {
    expect(wildcardMatches(filter, tag)).toBe(expected);
  });

  test('a filter made from a tag by replacing any parts with * matches that tag; without * only the tag itself', () => {
    const tagChar = fc.constantFrom(...'abz019._-'.split(''));
    fc.assert(fc.property(fc.array(fc.array(tagChar, { maxLength: 6 }).map((c) => c.join('')), { minLength: 1, maxLength: 5 }), fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
      (pieces, star) => {
        const tag = pieces.join('');
        const filter = pieces.map((p, i) => (star[i] ? '*' : p)).join('');
        expect(wildcardMatches(filter, tag)).toBe(true);
      }));
    fc.assert(fc.property(fc.array(tagChar, { minLength: 1, maxLength: 8 }).map((c) => c.join('')), fc.array(tagChar, { minLength: 1, maxLength: 8 }).map((c) => c.join('')),
      (filter, tag) => { expect(wildcardMatches(filter, tag)).toBe(filter === tag); }));
  });

  test('what each mutability setting lets a PUT move', () => {
    expect(tagIsImmutable({ imageTagMutability: 'MUTABLE' }, 'v1')).toBe(false);
    expect(tagIsImmutable({ imageTagMutability: 'IMMUTABLE' }, 'latest')).toBe(true);
    expect(tagIsImmutable(APP, 'latest')).toBe(false);
    expect(tagIsImmutable(APP, 'pr-7')).toBe(false);
    expect(tagIsImmutable(APP, '4f2a9c')).toBe(true);
    const mutableExcept: RepositorySettings = { imageTagMutability: 'MUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'release-*' }] };
    expect(tagIsImmutable(mutableExcept, 'release-1')).toBe(true);
    expect(tagIsImmutable(mutableExcept, 'main')).toBe(false);
  });

  test.each([
    [{ repositories: { app: { imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION' } } }, /needs 1 to 5 imageTagMutabilityExclusionFilters; got 0/],
    [{ repositories: { app: { imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: 'abcdef'.split('').map((f) => ({ filterType: 'WILDCARD', filter: f })) } } }, /got 6/],
    [{ repositories: { app: { imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'a/b' }] } } }, /an exclusion filter must be/],
    [{ repositories: { app: { imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'REGEX', filter: 'a' }] } } }, /an exclusion filter must be/],
    [{ repositories: { app: { imageTagMutability: 'MUTABLE', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'a' }] } } }, /only allowed with/],
    [{ repositories: { app: { imageTagMutability: 'immutable' } } }, /imageTagMutability must be one of/],
    [{ repositories: { App: { imageTagMutability: 'MUTABLE' } } }, /not a valid ECR repository name/],
    [{ registryId: '12', repositories: {} }, /registryId must be 12 digits/],
    [{}, /expected \{"repositories"/],
  ])('a bad configuration is refused with the rule: %j', (config, message) => {
    expect(() => validateConfig(config)).toThrow(message);
  });
});

// ------------------------------------------------------------------ the proxy in front of a fake registry
let upstream: FakeRegistry;
let proxy: EcrProxy;
let refusals: string[];
beforeEach(async () => {
  upstream = await startFakeRegistry();
  refusals = [];
  proxy = await startEcrProxy({ upstream: upstream.address, config: CONFIG, log: (l) => refusals.push(l) });
});
afterEach(async () => {
  await proxy.close();
  await upstream.close();
});

const url = (p: string) => `http://${proxy.address}${p}`;

async function uploadBlob(repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const start = await fetch(url(`/v2/${repo}/blobs/uploads/`), { method: 'POST' });
  expect(start.status).toBe(202);
  const location = new URL(start.headers.get('location')!);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', body: data, headers: { 'Content-Type': 'application/octet-stream' } });
  expect(put.status).toBe(201);
  return digest;
}

/** An OCI image manifest (config + one layer, both uploaded), as a client would PUT it. */
async function image(repo: string, seed: string): Promise<string> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
  const layer = Buffer.from(`layer of ${seed}`);
  const configDigest = await uploadBlob(repo, config);
  const layerDigest = await uploadBlob(repo, layer);
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
  });
}

function putManifest(repo: string, reference: string, manifest: string) {
  return fetch(url(`/v2/${repo}/manifests/${reference}`), { method: 'PUT', body: manifest, headers: { 'Content-Type': OCI_MANIFEST } });
}

async function tagged(repo: string, tag: string): Promise<string | undefined> {
  const r = await fetch(url(`/v2/${repo}/manifests/${tag}`), { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
  return r.status === 200 ? r.headers.get('docker-content-digest') ?? undefined : undefined;
}

const refusedBody = (repo: string, tag: string) => ({ errors: [{ code: 'TAG_INVALID', message: immutableTagMessage(repo, tag) }] });

describe('immutable tags', () => {
  test('moving an existing immutable tag is refused with HTTP 400 and ECR\'s TAG_INVALID text; the tag keeps its image', async () => {
    const a = await image('app', 'a');
    const b = await image('app', 'b');
    expect((await putManifest('app', '4f2a9c', a)).status).toBe(201);

    const refused = await putManifest('app', '4f2a9c', b);
    expect(refused.status).toBe(400);
    expect(refused.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await refused.json()).toEqual(refusedBody('app', '4f2a9c'));
    expect(immutableTagMessage('app', '4f2a9c')).toBe(
      'The image tag \'4f2a9c\' already exists in the \'app\' repository and cannot be overwritten because the tag is immutable.');
    expect(await tagged('app', '4f2a9c')).toBe(sha256(a));
    expect(upstream.requests.filter((r) => r === 'PUT /v2/app/manifests/4f2a9c')).toHaveLength(1);
    expect(refusals).toEqual(['refused PUT app:4f2a9c: the tag exists and is immutable']);
  });

  test('a re-put of the identical manifest to an existing immutable tag is refused too, as ECR refuses `docker push` of the same image again', async () => {
    const a = await image('locked', 'a');
    expect((await putManifest('locked', 'v1', a)).status).toBe(201);
    const again = await putManifest('locked', 'v1', a);
    expect(again.status).toBe(400);
    expect(await again.json()).toEqual(refusedBody('locked', 'v1'));
  });

  test('excluded tags (latest, pr-*) move; others in the same repository do not, also tags that only nearly match', async () => {
    const a = await image('app', 'a');
    const b = await image('app', 'b');
    for (const tag of ['latest', 'pr-12', 'pr', 'prod', 'latest-1']) expect((await putManifest('app', tag, a)).status).toBe(201);
    expect((await putManifest('app', 'latest', b)).status).toBe(201);
    expect((await putManifest('app', 'pr-12', b)).status).toBe(201);
    for (const tag of ['pr', 'prod', 'latest-1']) expect((await putManifest('app', tag, b)).status).toBe(400);
    expect(await tagged('app', 'latest')).toBe(sha256(b));
    expect(await tagged('app', 'pr-12')).toBe(sha256(b));
    expect(await tagged('app', 'prod')).toBe(sha256(a));
  });

  test('a new immutable tag, a push by digest, and tags of a MUTABLE repository are not restricted', async () => {
    const a = await image('app', 'a');
    const b = await image('app', 'b');
    expect((await putManifest('app', 'first', a)).status).toBe(201);
    expect((await putManifest('app', sha256(b), b)).status).toBe(201);
    expect((await putManifest('app', sha256(b), b)).status).toBe(201);
    const c = await image('app-cache', 'c');
    const d = await image('app-cache', 'd');
    expect((await putManifest('app-cache', 'main', c)).status).toBe(201);
    expect((await putManifest('app-cache', 'main', d)).status).toBe(201);
    expect(await tagged('app-cache', 'main')).toBe(sha256(d));
  });

  test('of two pushes racing to a new immutable tag, exactly one wins', async () => {
    const a = await image('locked', 'a');
    const b = await image('locked', 'b');
    const statuses = (await Promise.all([putManifest('locked', 'v2', a), putManifest('locked', 'v2', b)])).map((r) => r.status).sort();
    expect(statuses).toEqual([201, 400]);
  });

  test('the configuration file is re-read when it changes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ecr-proxy-'));
    const file = path.join(dir, 'repositories.json');
    fs.writeFileSync(file, JSON.stringify({ repositories: { flip: { imageTagMutability: 'MUTABLE' } } }));
    const fromFile = await startEcrProxy({ upstream: upstream.address, configFile: file });
    try {
      const put = (m: string) => fetch(`http://${fromFile.address}/v2/flip/manifests/v1`, { method: 'PUT', body: m, headers: { 'Content-Type': OCI_MANIFEST } });
      expect((await put('{"schemaVersion":2,"n":1}')).status).toBe(201);
      expect((await put('{"schemaVersion":2,"n":2}')).status).toBe(201);
      fs.writeFileSync(file, JSON.stringify({ repositories: { flip: { imageTagMutability: 'IMMUTABLE' } } }, null, 1));
      expect((await put('{"schemaVersion":2,"n":3}')).status).toBe(400);
    } finally {
      await fromFile.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('tag rule and repositories', () => {
  test.each(['-lead', '.lead', 'a'.repeat(129), 'sp ace', 'ümlaut'])('a manifest PUT with the invalid tag %j is refused with TAG_INVALID, also in a MUTABLE repository', async (tag) => {
    const r = await putManifest('app-cache', encodeURIComponent(tag), '{"schemaVersion":2}');
    expect(r.status).toBe(400);
    const body = await r.json() as { errors: { code: string; message: string }[] };
    expect(body.errors[0].code).toBe('TAG_INVALID');
    expect(body.errors[0].message).toMatch(/1 to 128 characters from \[a-zA-Z0-9._-\] and starts with \[a-zA-Z0-9_\]/);
    expect(upstream.requests.some((x) => x.startsWith('PUT /v2/app-cache/manifests/'))).toBe(false);
  });

  test.each(['_x', 'a', 'A.b-c_9', 'a'.repeat(128)])('the valid tag %j is accepted', async (tag) => {
    expect((await putManifest('app-cache', tag, '{"schemaVersion":2}')).status).toBe(201);
  });

  test('a repository that was not created does not exist, for every request', async () => {
    for (const [method, p] of [['GET', '/v2/nope/tags/list'], ['HEAD', '/v2/nope/manifests/latest'], ['POST', '/v2/nope/blobs/uploads/'], ['PUT', '/v2/nope/manifests/v1']]) {
      const r = await fetch(url(p), { method, body: method === 'PUT' ? '{}' : undefined });
      expect(r.status).toBe(404);
      if (method !== 'HEAD') {
        expect(await r.json()).toEqual({ errors: [{ code: 'NAME_UNKNOWN', message: 'The repository with name \'nope\' does not exist in the registry with id \'123456789012\'' }] });
      }
    }
    expect(upstream.requests.some((x) => x.includes('/nope/'))).toBe(false);
  });

  test('a repository that exists but holds nothing answers like an empty ECR repository', async () => {
    const tags = await fetch(url('/v2/empty/tags/list'));
    expect(tags.status).toBe(200);
    expect(await tags.json()).toEqual({ name: 'empty', tags: [] });
    const manifest = await fetch(url('/v2/empty/manifests/v1'), { headers: { Accept: OCI_MANIFEST } });
    expect(manifest.status).toBe(404);
    expect(await manifest.json()).toEqual({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'Requested image not found' }] });
  });
});

describe('pass-through', () => {
  test('a chunked blob upload (POST, PATCH, PATCH, PUT) goes through with the registry\'s Locations pointing at the proxy, and the blob reads back', async () => {
    const data = Buffer.from('0123456789'.repeat(1000));
    const start = await fetch(url('/v2/app/blobs/uploads/'), { method: 'POST' });
    expect(start.status).toBe(202);
    let location = start.headers.get('location')!;
    expect(location.startsWith(`http://${proxy.address}/v2/app/blobs/uploads/`)).toBe(true);
    for (const part of [data.subarray(0, 4000), data.subarray(4000)]) {
      const r = await fetch(location, { method: 'PATCH', body: part, headers: { 'Content-Type': 'application/octet-stream' } });
      expect(r.status).toBe(202);
      location = r.headers.get('location')!;
    }
    const done = new URL(location);
    done.searchParams.set('digest', sha256(data));
    const put = await fetch(done, { method: 'PUT' });
    expect(put.status).toBe(201);
    const head = await fetch(url(`/v2/app/blobs/${sha256(data)}`), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(data.length));
    const get = await fetch(url(`/v2/app/blobs/${sha256(data)}`));
    expect(Buffer.from(await get.arrayBuffer()).equals(data)).toBe(true);
  });

  test('a cross-repository mount, the manifest by digest and tags/list go through', async () => {
    const a = await image('app', 'a');
    const layer = JSON.parse(a).layers[0].digest;
    const mount = await fetch(url(`/v2/team/other/blobs/uploads/?mount=${layer}&from=app`), { method: 'POST' });
    expect(mount.status).toBe(201);
    expect(mount.headers.get('location')).toBe(`http://${proxy.address}/v2/team/other/blobs/${layer}`);
    expect((await putManifest('app', 'v9', a)).status).toBe(201);
    const byDigest = await fetch(url(`/v2/app/manifests/${sha256(a)}`), { headers: { Accept: OCI_MANIFEST } });
    expect(await byDigest.text()).toBe(a);
    expect(await (await fetch(url('/v2/app/tags/list'))).json()).toEqual({ name: 'app', tags: ['v9'] });
    expect((await fetch(url('/v2/'))).status).toBe(200);
  });

  test('traffic is counted per repository: upload bytes, download bytes and accepted mounts, also at GET /-/traffic', async () => {
    const data = Buffer.from('x'.repeat(5000));
    const digest = await uploadBlob('app', data);
    expect(proxy.traffic().app).toEqual({ up: 5000, down: 0, mounts: 0 });
    const get = await fetch(url(`/v2/app/blobs/${digest}`));
    expect((await get.arrayBuffer()).byteLength).toBe(5000);
    const mount = await fetch(url(`/v2/app-cache/blobs/uploads/?mount=${digest}&from=app`), { method: 'POST' });
    expect(mount.status).toBe(201);
    // a refused request for a repository that does not exist counts nowhere
    await fetch(url('/v2/nothing/blobs/uploads/'), { method: 'POST', body: 'abc' });
    expect(proxy.traffic()).toEqual({ 'app': { up: 5000, down: 5000, mounts: 0 }, 'app-cache': { up: 0, down: 0, mounts: 1 } });
    expect(await (await fetch(url('/-/traffic'))).json()).toEqual(proxy.traffic());
  });

  test('a registry that does not answer gives 502 with the reason', async () => {
    const dead = await startEcrProxy({ upstream: '127.0.0.1:1', config: CONFIG });
    try {
      const r = await fetch(`http://${dead.address}/v2/app/tags/list`);
      expect(r.status).toBe(502);
      expect(JSON.stringify(await r.json())).toMatch(/upstream 127\.0\.0\.1:1/);
    } finally {
      await dead.close();
    }
  });
});

// ------------------------------------------------------------------ streaming
const MiB = 1024 * 1024;
const BLOB = 256 * MiB;

function waitFor(condition: () => boolean, what: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (condition()) resolve();
      else if (Date.now() > until) reject(new Error(`gave up waiting for ${what}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

/** Writes `bytes` of a repeating pattern, honouring backpressure. */
async function writePattern(out: NodeJS.WritableStream, bytes: number, hash: ReturnType<typeof createHash>): Promise<void> {
  const chunk = Buffer.alloc(MiB, 'ecr-proxy streaming test ');
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
  }
}

/** A proxy in front of a stand-in registry server; run() gets the proxy, then both are closed. */
async function behindProxy(handler: http.RequestListener, run: (proxyAddress: string) => Promise<void>): Promise<void> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const p = await startEcrProxy({ upstream: `127.0.0.1:${(server.address() as { port: number }).port}`, config: CONFIG });
  try {
    await run(p.address);
  } finally {
    await p.close();
    await new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
  }
}

describe('large blobs are streamed, not buffered', () => {
  test('an upload of 256 MiB reaches the registry while the client is still sending', async () => {
    let received = 0;
    const got = createHash('sha256');
    const sink: http.RequestListener = (req, res) => {
      req.on('data', (c: Buffer) => { received += c.length; got.update(c); });
      req.on('end', () => { res.writeHead(202, { 'Content-Length': 0 }); res.end(); });
    };
    await behindProxy(sink, async (address) => {
      const [host, port] = address.split(':');
      const sent = createHash('sha256');
      const response = new Promise<number>((resolve, reject) => {
        const req = http.request({ host, port: Number(port), method: 'PATCH', path: '/v2/app/blobs/uploads/u1', headers: { 'Content-Type': 'application/octet-stream' } },
          (res) => { res.resume(); resolve(res.statusCode ?? 0); });
        req.on('error', reject);
        (async () => {
          await writePattern(req, BLOB / 4, sent);
          // A proxy that buffered the body would forward nothing before the end: this would time out.
          await waitFor(() => received >= BLOB / 8, 'the registry to receive the first 32 MiB');
          await writePattern(req, BLOB - BLOB / 4, sent);
          req.end();
        })().catch(reject);
      });
      expect(await response).toBe(202);
      expect(received).toBe(BLOB);
      expect(got.digest('hex')).toBe(sent.digest('hex'));
    });
  }, 120_000);

  test('a download of 256 MiB reaches the client while the registry is still sending', async () => {
    let clientReceived = 0;
    const sent = createHash('sha256');
    const source: http.RequestListener = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': BLOB });
      (async () => {
        await writePattern(res, BLOB / 4, sent);
        // A proxy that buffered the response would send nothing before the end: this would time out.
        await waitFor(() => clientReceived >= BLOB / 8, 'the client to receive the first 32 MiB');
        await writePattern(res, BLOB - BLOB / 4, sent);
        res.end();
      })().catch(() => res.destroy());
    };
    await behindProxy(source, async (address) => {
      const got = createHash('sha256');
      const r = await fetch(`http://${address}/v2/app/blobs/sha256:${'0'.repeat(64)}`);
      expect(r.status).toBe(200);
      for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
        clientReceived += chunk.length;
        got.update(chunk);
      }
      expect(clientReceived).toBe(BLOB);
      expect(got.digest('hex')).toBe(sent.digest('hex'));
    });
  }, 120_000);
});
