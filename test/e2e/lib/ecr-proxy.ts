/**
 * An ECR-faithful front for the e2e registry: a small HTTP proxy, on 127.0.0.1, in front of the
 * local `distribution` registry, that enforces what the library depends on from Amazon ECR and
 * passes everything else through, streamed (blobs of any size are never held in memory).
 *
 * What it enforces, per repository (configured like CloudFormation creates them), and where
 * ECR's behaviour comes from:
 *
 * - Tag mutability `MUTABLE`, `IMMUTABLE`, `IMMUTABLE_WITH_EXCLUSION` and `MUTABLE_WITH_EXCLUSION`
 *   with `imageTagMutabilityExclusionFilters` (type `WILDCARD`, value `^[0-9a-zA-Z._*-]{1,128}$`,
 *   1 to 5 filters; `*` matches any run of characters). Sources: ECR API reference,
 *   ImageTagMutabilityExclusionFilter and CreateRepository
 *   (docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageTagMutabilityExclusionFilter.html).
 *
 * - A manifest PUT to an existing immutable tag is refused with HTTP 400 and the registry error
 *   `TAG_INVALID`, which Docker prints as `tag invalid: <message>`. The message ECR sends today is
 *   `The image tag '<tag>' already exists in the '<repo>' repository and cannot be overwritten
 *   because the tag is immutable.`; until 2025 it ended `... because the repository is immutable.`
 *   Sources: GoogleContainerTools/kaniko#3481 (the wording change), osscontainertools/kaniko#204
 *   (`PUT .../manifests/<tag>: TAG_INVALID: The image tag ... because the tag is immutable.`),
 *   moby/buildkit#3776 and aws/containers-roadmap#862 (`tag invalid: ...` from docker/buildx),
 *   zenn.dev/kuritify "ECR 400 Bad Request failed commit on ref" (`unexpected status from PUT
 *   request to .../manifests/<tag>: 400 Bad Request` against an IMMUTABLE repository).
 *
 * - A re-put of the IDENTICAL manifest to an existing immutable tag (`docker push` of the same
 *   image again) is refused the same way: ECR does not compare digests on the registry path.
 *   Sources: aws/containers-roadmap#2179 ("even when the digest has not changed, it fails with
 *   ImageTagAlreadyExistsException"), GoogleContainerTools/kaniko#3481 (steps: push, "push the
 *   same image again", error), the ECR user guide ("the ImageTagAlreadyExistsException error is
 *   returned if you attempt to push an image with a tag that is already in the repository").
 *   A client that checks first and skips the PUT (HEAD by tag, same digest) never reaches this.
 *   (The PutImage API answers an identical re-put with ImageAlreadyExistsException instead, in
 *   any repository: that is the `aws` stand-in's business, see aws-stand-in.ts.)
 *
 * - Tags must match `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` (the distribution spec's tag rule, which
 *   ECR and this library use); a manifest PUT with another tag is refused with 400 `TAG_INVALID`.
 *   ECR's exact text for this case was not found documented: the message names the rule.
 *
 * - A repository that is not configured does not exist: every request for it gets 404
 *   `NAME_UNKNOWN` `The repository with name '<repo>' does not exist in the registry with id
 *   '<id>'` (ECR's RepositoryNotFoundException text, as the registry path reports it). For a
 *   configured repository that holds nothing yet, distribution's NAME_UNKNOWN becomes what an
 *   existing, empty ECR repository answers: an empty tag list, and 404 `MANIFEST_UNKNOWN`
 *   `Requested image not found` for a manifest.
 *
 * Everything else (blob uploads, chunked or monolithic, cross-repository mounts, HEAD/GET,
 * tags/list, DELETE, `/v2/`) is forwarded unchanged, without authentication, with the client's
 * Host header (so the registry's upload Locations point back at the proxy).
 *
 * Traffic is counted per repository for the benchmark (test/e2e/bench.ts): bytes received from
 * clients (request bodies: blob uploads, manifests), bytes sent to them (response bodies from the
 * registry: blob and manifest downloads), and cross-repository mounts the registry accepted.
 * `GET /-/traffic` answers the totals since the proxy started (not part of ECR's API).
 *
 * Configuration: a JSON file ({@link EcrProxyConfig}), re-read when it changes, or an object.
 * Run standalone: `node ecr-proxy.js --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT
 * --config FILE [--parent-pid PID]` (prints `ecr-proxy listening on HOST:PORT` when ready).
 */
import * as fs from 'fs';
import * as http from 'http';

export type TagMutability = 'MUTABLE' | 'IMMUTABLE' | 'IMMUTABLE_WITH_EXCLUSION' | 'MUTABLE_WITH_EXCLUSION';

export interface ExclusionFilter {
  readonly filterType: 'WILDCARD';
  readonly filter: string;
}

/** A repository's settings, as `aws ecr describe-repositories` shows them. */
export interface RepositorySettings {
  readonly imageTagMutability: TagMutability;
  readonly imageTagMutabilityExclusionFilters?: ExclusionFilter[];
}

export interface EcrProxyConfig {
  /** The account id in error messages (default 123456789012, the e2e stack's account). */
  readonly registryId?: string;
  /** The repositories that exist, by name. */
  readonly repositories: Record<string, RepositorySettings>;
}

export interface EcrProxyOptions {
  /** The registry to forward to, `host:port`. */
  readonly upstream: string;
  /** Listen address (default 127.0.0.1) and port (default 0: any free port). */
  readonly host?: string;
  readonly port?: number;
  /** The configuration, or a JSON file holding it (re-read when it changes). */
  readonly config?: EcrProxyConfig;
  readonly configFile?: string;
  /** Receives one line per refused request. */
  readonly log?: (line: string) => void;
}

export interface EcrProxy {
  /** `host:port` the proxy listens on. */
  readonly address: string;
  /** Bytes to and from clients, per repository, since the proxy started. */
  traffic(): Traffic;
  close(): Promise<void>;
}

/** What one repository's clients sent and received through the proxy. */
export interface RepositoryTraffic {
  /** Request body bytes (blob uploads, manifest PUTs). */
  up: number;
  /** Response body bytes forwarded from the registry (blob and manifest GETs). */
  down: number;
  /** Cross-repository blob mounts the registry accepted (201 to `POST blobs/uploads/?mount=`). */
  mounts: number;
}
export type Traffic = Record<string, RepositoryTraffic>;

/** The path of the traffic counters (outside `/v2/`, so no client ever asks for it by accident). */
export const TRAFFIC_PATH = '/-/traffic';

/** ECR's (and the distribution spec's) tag rule. */
export const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const FILTER_PATTERN = /^[0-9a-zA-Z._*-]{1,128}$/;
const MAX_EXCLUSION_FILTERS = 5;
const MUTABILITIES: TagMutability[] = ['MUTABLE', 'IMMUTABLE', 'IMMUTABLE_WITH_EXCLUSION', 'MUTABLE_WITH_EXCLUSION'];
/** PutImage's limit on the manifest (imageManifest: at most 4,194,304 characters). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const DEFAULT_REGISTRY_ID = '123456789012';

const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** ECR's text for a refused move of an immutable tag (see the header for the sources). */
export function immutableTagMessage(repository: string, tag: string): string {
  return `The image tag '${tag}' already exists in the '${repository}' repository and cannot be overwritten because the tag is immutable.`;
}

export function repositoryNotFoundMessage(repository: string, registryId: string): string {
  return `The repository with name '${repository}' does not exist in the registry with id '${registryId}'`;
}

export function invalidTagMessage(tag: string): string {
  return `The image tag '${tag}' is not valid: a tag is 1 to 128 characters from [a-zA-Z0-9._-] and starts with [a-zA-Z0-9_].`;
}

/** ECR's WILDCARD filter: `*` matches any run of characters (also none), everything else itself. */
export function wildcardMatches(filter: string, tag: string): boolean {
  const parts = filter.split('*');
  if (parts.length === 1) return filter === tag;
  const first = parts[0];
  const last = parts[parts.length - 1];
  if (tag.length < first.length + last.length || !tag.startsWith(first) || !tag.endsWith(last)) return false;
  let at = first.length;
  const end = tag.length - last.length;
  for (const middle of parts.slice(1, -1)) {
    const i = tag.indexOf(middle, at);
    if (i < 0 || i + middle.length > end) return false;
    at = i + middle.length;
  }
  return true;
}

/** Whether a PUT must not move this tag once it exists. */
export function tagIsImmutable(settings: RepositorySettings, tag: string): boolean {
  const excluded = (settings.imageTagMutabilityExclusionFilters ?? []).some((f) => wildcardMatches(f.filter, tag));
  switch (settings.imageTagMutability) {
    case 'MUTABLE': return false;
    case 'IMMUTABLE': return true;
    case 'IMMUTABLE_WITH_EXCLUSION': return !excluded;
    case 'MUTABLE_WITH_EXCLUSION': return excluded;
  }
}

/** Checks a configuration the way ECR checks CreateRepository's parameters; throws naming the rule. */
export function validateConfig(value: unknown): EcrProxyConfig {
  const config = value as EcrProxyConfig;
  if (!config || typeof config !== 'object' || !config.repositories || typeof config.repositories !== 'object') {
    throw new Error('ecr-proxy config: expected {"repositories": {"<name>": {"imageTagMutability": ...}}}');
  }
  if (config.registryId !== undefined && !/^[0-9]{12}$/.test(config.registryId)) {
    throw new Error(`ecr-proxy config: registryId must be 12 digits; got '${config.registryId}'`);
  }
  for (const [name, settings] of Object.entries(config.repositories)) {
    const where = `ecr-proxy config: repository '${name}'`;
    if (!/^(?=.{2,256}$)[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(name)) {
      throw new Error(`${where}: not a valid ECR repository name`);
    }
    if (!MUTABILITIES.includes(settings?.imageTagMutability)) {
      throw new Error(`${where}: imageTagMutability must be one of ${MUTABILITIES.join(', ')}; got '${settings?.imageTagMutability}'`);
    }
    const filters = settings.imageTagMutabilityExclusionFilters ?? [];
    const withExclusion = settings.imageTagMutability.endsWith('_WITH_EXCLUSION');
    if (withExclusion && (filters.length < 1 || filters.length > MAX_EXCLUSION_FILTERS)) {
      throw new Error(`${where}: ${settings.imageTagMutability} needs 1 to ${MAX_EXCLUSION_FILTERS} imageTagMutabilityExclusionFilters; got ${filters.length}`);
    }
    if (!withExclusion && filters.length > 0) {
      throw new Error(`${where}: imageTagMutabilityExclusionFilters are only allowed with IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION`);
    }
    for (const f of filters) {
      if (f?.filterType !== 'WILDCARD' || typeof f.filter !== 'string' || !FILTER_PATTERN.test(f.filter)) {
        throw new Error(`${where}: an exclusion filter must be {"filterType": "WILDCARD", "filter": <${FILTER_PATTERN.source}>}; got ${JSON.stringify(f)}`);
      }
    }
  }
  return config;
}

// ------------------------------------------------------------------ the proxy
const ROUTE = /^\/v2\/(.+)\/(manifests\/[^/]+|blobs\/uploads\/[^/]*|blobs\/[^/]+|tags\/list|referrers\/[^/]+)$/;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'upgrade']);

function copyHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

function sendError(res: http.ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ errors: [{ code, message }] });
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Docker-Distribution-API-Version': 'registry/2.0',
  });
  res.end(body);
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= limit) chunks.push(c);
    });
    req.on('end', () => resolve(size <= limit ? Buffer.concat(chunks) : undefined));
    req.on('close', () => { if (!req.complete) reject(new Error('the client went away')); });
    req.on('error', reject);
  });
}

class ConfigSource {
  private cached?: { key: string; config: EcrProxyConfig };
  constructor(private readonly fixed?: EcrProxyConfig, private readonly file?: string) {
    if (!fixed && !file) throw new Error('ecr-proxy: give config or configFile');
    if (fixed) validateConfig(fixed);
    if (file) this.get();
  }

  get(): EcrProxyConfig {
    if (this.fixed) return this.fixed;
    const st = fs.statSync(this.file!);
    const key = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (this.cached?.key !== key) {
      this.cached = { key, config: validateConfig(JSON.parse(fs.readFileSync(this.file!, 'utf8'))) };
    }
    return this.cached.config;
  }
}

export async function startEcrProxy(options: EcrProxyOptions): Promise<EcrProxy> {
  const configs = new ConfigSource(options.config, options.configFile);
  const [upstreamHost, upstreamPort] = splitHostPort(options.upstream);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const log = options.log ?? (() => {});
  /** Serializes check-then-put per immutable tag, as ECR does: of two racing pushes, one wins. */
  const locks = new Map<string, Promise<void>>();
  const traffic: Traffic = {};
  /** The counters of the repository a request is for. */
  const counters = new WeakMap<http.IncomingMessage, RepositoryTraffic>();
  const countFor = (req: http.IncomingMessage, name: string) => {
    const t = traffic[name] ??= { up: 0, down: 0, mounts: 0 };
    counters.set(req, t);
    req.on('data', (c: Buffer) => { t.up += c.length; });
  };

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer | undefined,
    intercept?: (upRes: http.IncomingMessage) => boolean): Promise<void> => new Promise((resolve) => {
    const headers = copyHeaders(req.headers);
    if (body) {
      delete headers['transfer-encoding'];
      headers['content-length'] = body.length;
    }
    const upReq = http.request({ host: upstreamHost, port: upstreamPort, method: req.method, path: req.url, headers, agent }, (upRes) => {
      if (intercept?.(upRes)) {
        upRes.on('end', () => resolve());
        return;
      }
      const counted = counters.get(req);
      if (counted) {
        upRes.on('data', (c: Buffer) => { counted.down += c.length; });
        if (req.method === 'POST' && upRes.statusCode === 201 && /[?&]mount=/.test(req.url ?? '')) counted.mounts += 1;
      }
      const out = copyHeaders(upRes.headers);
      const location = upRes.headers.location;
      if (location) out.location = location.replace(`//${options.upstream}/`, `//${req.headers.host}/`);
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, out);
      upRes.pipe(res);
      upRes.on('end', () => resolve());
      upRes.on('error', () => { res.destroy(); resolve(); });
    });
    upReq.on('error', (err) => {
      if (!res.headersSent) sendError(res, 502, 'UNAVAILABLE', `ecr-proxy: upstream ${options.upstream}: ${err.message}`);
      else res.destroy();
      resolve();
    });
    req.on('close', () => { if (!req.complete) upReq.destroy(); });
    res.on('close', () => { if (!res.writableFinished) upReq.destroy(); });
    if (body) upReq.end(body);
    else req.pipe(upReq);
  });

  /** Distribution's NAME_UNKNOWN for a configured (existing, empty) repository: what ECR answers. */
  const emptyRepository = (name: string, what: string, req: http.IncomingMessage, res: http.ServerResponse) =>
    (upRes: http.IncomingMessage): boolean => {
      if (upRes.statusCode !== 404 || req.method !== 'GET' || !(upRes.headers['content-type'] ?? '').includes('json')) return false;
      const chunks: Buffer[] = [];
      upRes.on('data', (c: Buffer) => chunks.push(c));
      upRes.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let unknownName = false;
        try { unknownName = (JSON.parse(text).errors ?? []).some((e: { code?: string }) => e.code === 'NAME_UNKNOWN'); } catch { /* not a registry error */ }
        if (!unknownName) {
          res.writeHead(404, copyHeaders(upRes.headers));
          res.end(text);
        } else if (what === 'tags/list') {
          const body = JSON.stringify({ name, tags: [] });
          res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Docker-Distribution-API-Version': 'registry/2.0' });
          res.end(body);
        } else {
          sendError(res, 404, 'MANIFEST_UNKNOWN', 'Requested image not found');
        }
      });
      return true;
    };

  const tagExists = (name: string, tag: string, host: string | undefined): Promise<boolean> => new Promise((resolve, reject) => {
    const r = http.request({
      host: upstreamHost,
      port: upstreamPort,
      method: 'HEAD',
      path: `/v2/${name}/manifests/${tag}`,
      agent,
      headers: { accept: MANIFEST_TYPES, ...(host ? { host } : {}) },
    }, (res) => {
      res.resume();
      if (res.statusCode === 200) resolve(true);
      else if (res.statusCode === 404) resolve(false);
      else reject(new Error(`HEAD ${name}:${tag}: HTTP ${res.statusCode}`));
    });
    r.on('error', reject);
    r.end();
  });

  const putImmutable = async (req: http.IncomingMessage, res: http.ServerResponse, name: string, tag: string): Promise<void> => {
    const body = await readBody(req, MAX_MANIFEST_BYTES);
    if (!body) return sendError(res, 400, 'MANIFEST_INVALID', `manifest larger than ${MAX_MANIFEST_BYTES} bytes`);
    const key = `${name}:${tag}`;
    const previous = locks.get(key) ?? Promise.resolve();
    let release = () => {};
    const mine = new Promise<void>((r) => { release = r; });
    const chain = previous.then(() => mine);
    locks.set(key, chain);
    await previous;
    try {
      if (await tagExists(name, tag, req.headers.host)) {
        log(`refused PUT ${name}:${tag}: the tag exists and is immutable`);
        return sendError(res, 400, 'TAG_INVALID', immutableTagMessage(name, tag));
      }
      await forward(req, res, body);
    } catch (err) {
      if (!res.headersSent) sendError(res, 502, 'UNAVAILABLE', `ecr-proxy: ${(err as Error).message}`);
    } finally {
      release();
      if (locks.get(key) === chain) locks.delete(key);
    }
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const pathname = (req.url ?? '/').split('?')[0];
    if (pathname === TRAFFIC_PATH && req.method === 'GET') {
      const body = JSON.stringify(traffic);
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      return void res.end(body);
    }
    const m = ROUTE.exec(pathname);
    if (!m) return forward(req, res, undefined);
    const name = decode(m[1]);
    const what = decode(m[2]);
    let config: EcrProxyConfig;
    try {
      config = configs.get();
    } catch (err) {
      req.resume();
      return sendError(res, 500, 'UNKNOWN', `ecr-proxy: ${(err as Error).message}`);
    }
    const settings = Object.prototype.hasOwnProperty.call(config.repositories, name) ? config.repositories[name] : undefined;
    if (!settings) {
      req.resume();
      log(`refused ${req.method} ${pathname}: repository '${name}' does not exist`);
      return sendError(res, 404, 'NAME_UNKNOWN', repositoryNotFoundMessage(name, config.registryId ?? DEFAULT_REGISTRY_ID));
    }
    countFor(req, name);
    if (what.startsWith('manifests/')) {
      const reference = what.slice('manifests/'.length);
      const isDigest = reference.includes(':');
      if (req.method === 'PUT' && !isDigest) {
        if (!TAG_PATTERN.test(reference)) {
          req.resume();
          log(`refused PUT ${name}:${reference}: invalid tag`);
          return sendError(res, 400, 'TAG_INVALID', invalidTagMessage(reference));
        }
        if (tagIsImmutable(settings, reference)) return putImmutable(req, res, name, reference);
      }
      return forward(req, res, undefined, emptyRepository(name, 'manifests', req, res));
    }
    if (what === 'tags/list') return forward(req, res, undefined, emptyRepository(name, what, req, res));
    return forward(req, res, undefined);
  };

  const server = http.createServer({ requestTimeout: 0, keepAliveTimeout: 65_000 }, (req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) sendError(res, 500, 'UNKNOWN', `ecr-proxy: ${(err as Error).message}`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as { address: string; port: number };
  return {
    address: `${addr.address}:${addr.port}`,
    traffic: () => JSON.parse(JSON.stringify(traffic)),
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
      agent.destroy();
    }),
  };
}

/** Percent-decoded path part; an undecodable one stays as it is (and fails the tag rule). */
function decode(part: string): string {
  try { return decodeURIComponent(part); } catch { return part; }
}

function splitHostPort(hostPort: string): [string, number] {
  const i = hostPort.lastIndexOf(':');
  const port = Number(hostPort.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port)) throw new Error(`ecr-proxy: expected host:port; got '${hostPort}'`);
  return [hostPort.slice(0, i), port];
}

// ------------------------------------------------------------------ standalone
async function main(argv: string[]): Promise<void> {
  const args: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`ecr-proxy: bad arguments: ${argv.join(' ')}`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  const [host, port] = splitHostPort(args.listen ?? '');
  if (!args.upstream || !args.config) throw new Error('usage: ecr-proxy --listen HOST:PORT --upstream HOST:PORT --config FILE [--parent-pid PID]');
  const proxy = await startEcrProxy({
    host,
    port,
    upstream: args.upstream,
    configFile: args.config,
    log: (line) => process.stderr.write(`ecr-proxy: ${line}\n`),
  });
  process.stdout.write(`ecr-proxy listening on ${proxy.address}\n`);
  const stop = () => { proxy.close().then(() => process.exit(0), () => process.exit(1)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Never outlive the harness that started it, even if it was killed.
  const parent = Number(args['parent-pid'] ?? 0);
  if (parent > 0) {
    setInterval(() => {
      try { process.kill(parent, 0); } catch { stop(); }
    }, 1000).unref();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  });
}
