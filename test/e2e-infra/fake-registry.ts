/**
 * A tiny in-memory registry (the subset of the distribution API the ECR proxy forwards), so the
 * proxy and the `aws` stand-in are tested without the e2e environment. Like distribution, it
 * builds upload Locations from the request's Host header, answers NAME_UNKNOWN for a repository
 * it has never seen, and records every request it gets.
 */
import { createHash, randomUUID } from 'crypto';
import * as http from 'http';

interface Manifest { readonly mediaType: string; readonly body: Buffer }
interface Repo { readonly manifests: Map<string, Manifest>; readonly tags: Map<string, string> }

export interface FakeRegistry {
  readonly address: string;
  /** `METHOD path` of every request, in order. */
  readonly requests: string[];
  readonly repos: Map<string, Repo>;
  readonly blobs: Map<string, Buffer>;
  close(): Promise<void>;
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export async function startFakeRegistry(): Promise<FakeRegistry> {
  const repos = new Map<string, Repo>();
  const blobs = new Map<string, Buffer>();
  const uploads = new Map<string, Buffer[]>();
  const requests: string[] = [];
  const repo = (name: string): Repo => {
    let r = repos.get(name);
    if (!r) repos.set(name, r = { manifests: new Map(), tags: new Map() });
    return r;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
      requests.push(`${req.method} ${url.pathname}`);
      const json = (status: number, value: unknown, headers: Record<string, string | number> = {}) => {
        const text = JSON.stringify(value);
        res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
        res.end(text);
      };
      const error = (status: number, code: string, message: string) => json(status, { errors: [{ code, message }] });
      const base = `http://${req.headers.host}`;

      if (url.pathname === '/v2/') return json(200, {});
      const m = /^\/v2\/(.+)\/(manifests|blobs\/uploads|blobs|tags)\/?([^/]*)$/.exec(url.pathname);
      if (!m) return error(404, 'UNSUPPORTED', 'not found');
      const [, name, kind, ref] = m;

      if (kind === 'tags') {
        if (!repos.has(name)) return error(404, 'NAME_UNKNOWN', 'repository name not known to registry');
        return json(200, { name, tags: [...repo(name).tags.keys()].sort() });
      }
      if (kind === 'manifests') {
        if (req.method === 'PUT') {
          const digest = sha256(body);
          const r = repo(name);
          r.manifests.set(digest, { mediaType: req.headers['content-type'] ?? '', body });
          if (!ref.includes(':')) r.tags.set(ref, digest);
          res.writeHead(201, { 'Location': `${base}/v2/${name}/manifests/${digest}`, 'Docker-Content-Digest': digest, 'Content-Length': 0 });
          return res.end();
        }
        if (!repos.has(name)) return error(404, 'NAME_UNKNOWN', 'repository name not known to registry');
        const r = repo(name);
        const digest = ref.includes(':') ? ref : r.tags.get(ref);
        const found = digest ? r.manifests.get(digest) : undefined;
        if (req.method === 'DELETE') {
          if (!found) return error(404, 'MANIFEST_UNKNOWN', 'manifest unknown');
          r.manifests.delete(digest!);
          for (const [t, d] of r.tags) if (d === digest) r.tags.delete(t);
          res.writeHead(202, { 'Content-Length': 0 });
          return res.end();
        }
        if (!found) return error(404, 'MANIFEST_UNKNOWN', 'manifest unknown');
        res.writeHead(200, { 'Content-Type': found.mediaType, 'Content-Length': found.body.length, 'Docker-Content-Digest': digest! });
        return res.end(found.body);
      }
      if (kind === 'blobs/uploads') {
        if (req.method === 'POST') {
          const mount = url.searchParams.get('mount');
          if (mount && blobs.has(mount)) {
            repo(name);
            res.writeHead(201, { 'Location': `${base}/v2/${name}/blobs/${mount}`, 'Docker-Content-Digest': mount, 'Content-Length': 0 });
            return res.end();
          }
          const uuid = randomUUID();
          uploads.set(uuid, []);
          res.writeHead(202, { 'Location': `${base}/v2/${name}/blobs/uploads/${uuid}?_state=x`, 'Docker-Upload-UUID': uuid, 'Range': '0-0', 'Content-Length': 0 });
          return res.end();
        }
        const parts = uploads.get(ref);
        if (!parts) return error(404, 'BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry');
        parts.push(body);
        const size = parts.reduce((a, p) => a + p.length, 0);
        if (req.method === 'PATCH') {
          res.writeHead(202, { 'Location': `${base}/v2/${name}/blobs/uploads/${ref}?_state=y`, 'Range': `0-${size - 1}`, 'Content-Length': 0 });
          return res.end();
        }
        const digest = url.searchParams.get('digest') ?? '';
        const data = Buffer.concat(parts);
        if (sha256(data) !== digest) return error(400, 'DIGEST_INVALID', 'provided digest did not match uploaded content');
        uploads.delete(ref);
        blobs.set(digest, data);
        repo(name);
        res.writeHead(201, { 'Location': `${base}/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest, 'Content-Length': 0 });
        return res.end();
      }
      // blobs/<digest>
      const data = repos.has(name) ? blobs.get(ref) : undefined;
      if (!data) return error(404, 'BLOB_UNKNOWN', 'blob unknown to registry');
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length, 'Docker-Content-Digest': ref });
      return res.end(data);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address() as { address: string; port: number };
  return {
    address: `${addr.address}:${addr.port}`,
    requests,
    repos,
    blobs,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}
