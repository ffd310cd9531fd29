/**
 * The e2e harness's `aws` for ECR: answers the AWS CLI v2 calls the construct's buildspec makes,
 * from the ECR proxy in front of the local registry ($E2E_ECR_PROXY, host:port), with the CLI's
 * output shapes (`--output json|text`, `--query`) and its error form. The harness installs it
 * behind a bash `aws` (ecr-env.ts installAwsStandIn) that records every call in $E2E_AWS_CALLS
 * and answers `ecr get-login-password` (a token: the registry needs none) and `cloudwatch
 * put-metric-data` (recorded in $E2E_METRICS) itself; this file is transpiled to a plain Node
 * script (standalone.ts) and uses node built-ins only.
 *
 * - `ecr list-images`: `imageIds` ({imageDigest, imageTag} per tag; untagged manifests cannot be
 *   listed from a registry, so `--filter tagStatus=UNTAGGED` gives none).
 * - `ecr describe-images --image-ids imageTag=T|imageDigest=D`: `imageDetails` with
 *   registryId, repositoryName, imageDigest, imageTags, imageSizeInBytes (compressed layers),
 *   imageManifestMediaType, artifactMediaType; not imagePushedAt (the registry does not know it).
 * - `ecr batch-get-image --image-ids ... [--accepted-media-types ...]`: `images` (the manifest
 *   exactly as stored) and `failures` ({imageId, failureCode: ImageNotFound, failureReason:
 *   Requested image not found} with exit 0, as BatchGetImage reports a missing image).
 * - `ecr put-image --image-tag T --image-manifest M [--image-manifest-media-type X]
 *   [--image-digest D]`: a manifest PUT through the proxy, so the repository's tag immutability
 *   applies. ImageAlreadyExistsException when the tag already holds this very manifest (in any
 *   repository, checked first: aws/aws-sdk#750, buildkite-plugins/ecr-buildkite-plugin#111
 *   `Image with digest '<d>' and tag '<t>' already exists in the repository with name '<r>' in
 *   registry with id '<id>'`), ImageTagAlreadyExistsException with the proxy's (ECR's) text when an
 *   immutable tag would move (the PutImage text is taken to be the registry path's, which ECR's
 *   registry front end gets from PutImage), RepositoryNotFoundException,
 *   ImageDigestDoesNotMatchException.
 *
 * Errors look like the CLI's: `\nAn error occurred (<Code>) when calling the <Operation> operation:
 * <message>\n` on stderr and exit code 254 (awscli/utils.py write_exception; "Command line return
 * codes", AWS CLI user guide: 254 = the service returned an error). ImageNotFoundException and
 * RepositoryNotFoundException texts are ECR's (e.g. hashicorp/terraform-provider-aws#35268:
 * `The image with imageId {imageDigest:'null', imageTag:'latest'} does not exist within the
 * repository with name 'main' in the registry with id '058043570872'`). Unknown options exit 252,
 * a missing region 253, anything the stand-in does not implement 2 with a message saying so
 * (never a made-up answer).
 */
import { createHash } from 'crypto';
import * as http from 'http';

const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
];
const GLOBAL_OPTIONS = ['--region', '--output', '--query', '--no-cli-pager', '--no-paginate', '--cli-read-timeout', '--cli-connect-timeout', '--color'];
const FLAGS = new Set(['--no-cli-pager', '--no-paginate']);

class CliExit extends Error {
  constructor(readonly code: number, message: string) { super(message); }
}

/** A service error, printed the way the AWS CLI prints a ClientError. */
class ServiceError extends CliExit {
  constructor(errorCode: string, operation: string, message: string) {
    super(254, `\nAn error occurred (${errorCode}) when calling the ${operation} operation: ${message}\n`);
  }
}

const unsupported = (what: string) => new CliExit(2, `aws stand-in: unsupported: ${what}\n`);

type Options = Record<string, string[]>;

function parseOptions(args: string[], allowed: string[], required: string[]): Options {
  const options: Options = {};
  const unknown: string[] = [];
  for (let i = 0; i < args.length;) {
    const name = args[i];
    if (!name.startsWith('--')) throw new CliExit(252, `\naws: error: unexpected argument: ${name}\n`);
    const values: string[] = [];
    i += 1;
    if (!FLAGS.has(name)) while (i < args.length && !args[i].startsWith('--')) values.push(args[i++]);
    if (!allowed.includes(name) && !GLOBAL_OPTIONS.includes(name)) unknown.push(name);
    else if (!FLAGS.has(name) && values.length === 0) throw new CliExit(252, `\naws: error: argument ${name}: expected one argument\n`);
    options[name] = values;
  }
  if (unknown.length) throw new CliExit(252, `\naws: error: Unknown options: ${unknown.join(', ')}\n`);
  const missing = required.filter((r) => !(r in options));
  if (missing.length) throw new CliExit(252, `\naws: error: the following arguments are required: ${missing.join(', ')}\n`);
  return options;
}

const one = (o: Options, name: string): string | undefined => o[name]?.join(' ');

interface ImageId { imageTag?: string; imageDigest?: string }

/** `imageTag=T`, `imageDigest=D`, `imageDigest=D,imageTag=T` (the CLI's shorthand), or JSON. */
function imageIds(values: string[]): ImageId[] {
  if (values.length === 1 && values[0].trim().startsWith('[')) return JSON.parse(values[0]);
  return values.map((v) => {
    const id: ImageId = {};
    for (const part of v.split(',')) {
      const [k, ...rest] = part.split('=');
      if (k !== 'imageTag' && k !== 'imageDigest') throw new CliExit(252, `\nError parsing parameter '--image-ids': unknown key ${k}\n`);
      id[k] = rest.join('=');
    }
    return id;
  });
}

// ------------------------------------------------------------------ --query and --output
type Step = { field: string } | { index: number } | { flatten: true };

function parseQuery(query: string): Step[] {
  const steps: Step[] = [];
  const re = /\s*(?:(\.)?([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+)?\])/y;
  let at = 0;
  while (at < query.length) {
    re.lastIndex = at;
    const m = re.exec(query);
    if (!m || (m[2] !== undefined && steps.length > 0 && !m[1])) throw unsupported(`--query '${query}' (the stand-in knows a.b, a[0], a[] and their chains)`);
    if (m[2] !== undefined) steps.push({ field: m[2] });
    else if (m[3] !== undefined) steps.push({ index: Number(m[3]) });
    else steps.push({ flatten: true });
    at = re.lastIndex;
  }
  return steps;
}

/** JMESPath for a.b, a[N] and a[] (a projection: the rest applies to each element, nulls dropped). */
function search(value: unknown, steps: Step[]): unknown {
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    if (value === null || value === undefined) return null;
    if ('field' in step) {
      value = typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>)[step.field] ?? null : null;
    } else if ('index' in step) {
      if (!Array.isArray(value)) return null;
      value = value[step.index < 0 ? value.length + step.index : step.index] ?? null;
    } else {
      if (!Array.isArray(value)) return null;
      const flat = value.flatMap((x) => (Array.isArray(x) ? x : [x]));
      const rest = steps.slice(i + 1);
      return flat.map((x) => search(x, rest)).filter((x) => x !== null && x !== undefined);
    }
  }
  return value ?? null;
}

function scalarText(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'object') throw unsupported('--output text of a structure (add a --query that selects values)');
  return String(v);
}

function render(value: unknown, options: Options): string {
  const query = one(options, '--query');
  const result = query === undefined ? value : search(value, parseQuery(query));
  const output = one(options, '--output') ?? process.env.AWS_DEFAULT_OUTPUT ?? 'json';
  if (output === 'json') return `${JSON.stringify(result, null, 4)}\n`;
  if (output !== 'text') throw unsupported(`--output ${output}`);
  if (Array.isArray(result)) {
    if (result.length === 0) return '';
    if (result.every((x) => Array.isArray(x))) return result.map((row) => `${(row as unknown[]).map(scalarText).join('\t')}\n`).join('');
    return `${result.map(scalarText).join('\t')}\n`;
  }
  return `${scalarText(result)}\n`;
}

// ------------------------------------------------------------------ the registry (through the proxy)
interface Stored { digest: string; mediaType: string; body: string }
interface Reply { readonly status: number; readonly headers: http.IncomingHttpHeaders; readonly text: string }

/** One HTTP request (node:http: loading fetch would double the start-up time of every call). */
function request(url: string, method: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: body === undefined ? headers : { ...headers, 'Content-Length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', (err) => reject(new CliExit(255, `\nCould not connect to the endpoint URL: "${url}" (${err.message})\n`)));
    req.end(body);
  });
}
const ACCEPT = { Accept: MANIFEST_TYPES.join(', ') };

class Registry {
  private readonly base: string;
  constructor(host: string, private readonly operation: string, private readonly repository: string, private readonly registryId: string) {
    this.base = `http://${host}/v2/${repository}`;
  }

  repositoryNotFound(): ServiceError {
    return new ServiceError('RepositoryNotFoundException', this.operation,
      `The repository with name '${this.repository}' does not exist in the registry with id '${this.registryId}'`);
  }

  private fail(r: Reply, what: string): never {
    if (r.status === 404 && r.text.includes('NAME_UNKNOWN')) throw this.repositoryNotFound();
    throw new CliExit(255, `aws stand-in: ${what}: HTTP ${r.status} ${r.text}\n`);
  }

  async tags(): Promise<string[]> {
    const r = await request(`${this.base}/tags/list`, 'GET', {});
    if (r.status !== 200) return this.fail(r, 'tags/list');
    return (JSON.parse(r.text) as { tags?: string[] | null }).tags ?? [];
  }

  async digestOf(reference: string): Promise<string | undefined> {
    const r = await request(`${this.base}/manifests/${reference}`, 'HEAD', ACCEPT);
    if (r.status === 404) return undefined;
    if (r.status !== 200) return this.fail(r, `HEAD ${reference}`);
    return header(r, 'docker-content-digest');
  }

  async manifest(reference: string): Promise<Stored | undefined> {
    const r = await request(`${this.base}/manifests/${reference}`, 'GET', ACCEPT);
    if (r.status === 404 && !r.text.includes('NAME_UNKNOWN')) return undefined;
    if (r.status !== 200) return this.fail(r, `GET ${reference}`);
    return { digest: header(r, 'docker-content-digest') ?? sha256(r.text), mediaType: (header(r, 'content-type') ?? '').split(';')[0], body: r.text };
  }

  async put(reference: string, body: string, mediaType: string): Promise<{ status: number; code?: string; message?: string }> {
    const r = await request(`${this.base}/manifests/${reference}`, 'PUT', { 'Content-Type': mediaType }, body);
    if (r.status === 201) return { status: 201 };
    let error: { code?: string; message?: string } = {};
    try { error = JSON.parse(r.text).errors?.[0] ?? {}; } catch { error = { message: r.text }; }
    return { status: r.status, ...error };
  }

  /** Every tag with its digest (one HEAD per tag). */
  async tagged(): Promise<{ tag: string; digest: string }[]> {
    const out: { tag: string; digest: string }[] = [];
    for (const tag of await this.tags()) {
      const digest = await this.digestOf(tag);
      if (digest) out.push({ tag, digest });
    }
    return out;
  }

  /** Compressed size of the layers, as imageSizeInBytes (an index: of every image it lists). */
  async size(stored: Stored): Promise<number | undefined> {
    const m = JSON.parse(stored.body);
    if (Array.isArray(m.layers)) return m.layers.reduce((a: number, l: { size: number }) => a + l.size, 0);
    if (!Array.isArray(m.manifests)) return undefined;
    let total = 0;
    for (const child of m.manifests) {
      const c = await this.manifest(child.digest);
      const s = c ? await this.size(c) : undefined;
      if (s === undefined) return undefined;
      total += s;
    }
    return total;
  }
}

function header(r: Reply, name: string): string | undefined {
  const v = r.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function sha256(text: string): string {
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
}

// ------------------------------------------------------------------ commands
interface Context { readonly options: Options; readonly registry: Registry; readonly registryId: string; readonly repository: string }

const REPOSITORY_OPTIONS = ['--repository-name', '--registry-id'];

async function ecr(operation: string, args: string[], out: (s: string) => void): Promise<void> {
  const allowed: Record<string, { api: string; options: string[]; required: string[] }> = {
    'list-images': { api: 'ListImages', options: [...REPOSITORY_OPTIONS, '--filter', '--max-items', '--page-size'], required: ['--repository-name'] },
    'describe-images': { api: 'DescribeImages', options: [...REPOSITORY_OPTIONS, '--image-ids', '--filter'], required: ['--repository-name'] },
    'batch-get-image': { api: 'BatchGetImage', options: [...REPOSITORY_OPTIONS, '--image-ids', '--accepted-media-types'], required: ['--repository-name', '--image-ids'] },
    'put-image': { api: 'PutImage', options: [...REPOSITORY_OPTIONS, '--image-manifest', '--image-manifest-media-type', '--image-tag', '--image-digest'], required: ['--repository-name', '--image-manifest'] },
  };
  const spec = allowed[operation];
  if (!spec) throw unsupported(`ecr ${operation}`);
  const options = parseOptions(args, spec.options, spec.required);
  region(options);
  const proxy = process.env.E2E_ECR_PROXY;
  if (!proxy) throw new CliExit(255, 'aws stand-in: E2E_ECR_PROXY (host:port of the ECR proxy) is not set\n');
  const repository = one(options, '--repository-name')!;
  const registryId = one(options, '--registry-id') ?? process.env.E2E_AWS_ACCOUNT_ID ?? '123456789012';
  const ctx: Context = { options, registryId, repository, registry: new Registry(proxy, spec.api, repository, registryId) };
  out(render(await { 'list-images': listImages, 'describe-images': describeImages, 'batch-get-image': batchGetImage, 'put-image': putImage }[operation as 'put-image'](ctx), options));
}

function region(options: Options): string {
  const r = one(options, '--region') ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!r) throw new CliExit(253, '\nYou must specify a region. You can also configure your region by running "aws configure".\n');
  return r;
}

async function listImages(ctx: Context): Promise<unknown> {
  const filter = one(ctx.options, '--filter');
  if (filter !== undefined && !/^tagStatus=(TAGGED|UNTAGGED|ANY)$/.test(filter)) throw unsupported(`--filter ${filter}`);
  const tagged = await ctx.registry.tagged();
  return { imageIds: filter === 'tagStatus=UNTAGGED' ? [] : tagged.map((t) => ({ imageDigest: t.digest, imageTag: t.tag })) };
}

function idText(id: ImageId): string {
  return `{imageDigest:'${id.imageDigest ?? 'null'}', imageTag:'${id.imageTag ?? 'null'}'}`;
}

async function describeImages(ctx: Context): Promise<unknown> {
  if (ctx.options['--filter']) throw unsupported('describe-images --filter');
  const tagged = await ctx.registry.tagged();
  const ids: ImageId[] = ctx.options['--image-ids'] ? imageIds(ctx.options['--image-ids']) : [...new Set(tagged.map((t) => t.digest))].map((imageDigest) => ({ imageDigest }));
  const details = [];
  for (const id of ids) {
    const stored = await ctx.registry.manifest(id.imageDigest ?? id.imageTag ?? '');
    const tagMatches = !id.imageTag || tagged.some((t) => t.tag === id.imageTag && t.digest === stored?.digest);
    if (!stored || !tagMatches) {
      throw new ServiceError('ImageNotFoundException', 'DescribeImages',
        `The image with imageId ${idText(id)} does not exist within the repository with name '${ctx.repository}' in the registry with id '${ctx.registryId}'`);
    }
    const manifest = JSON.parse(stored.body);
    const size = await ctx.registry.size(stored);
    details.push({
      registryId: ctx.registryId,
      repositoryName: ctx.repository,
      imageDigest: stored.digest,
      imageTags: tagged.filter((t) => t.digest === stored.digest).map((t) => t.tag),
      ...(size !== undefined ? { imageSizeInBytes: size } : {}),
      imageManifestMediaType: stored.mediaType,
      ...(manifest.config?.mediaType ? { artifactMediaType: manifest.config.mediaType } : {}),
    });
  }
  return { imageDetails: details };
}

async function batchGetImage(ctx: Context): Promise<unknown> {
  const accepted = ctx.options['--accepted-media-types'];
  const images = [];
  const failures = [];
  for (const id of imageIds(ctx.options['--image-ids'])) {
    const stored = await ctx.registry.manifest(id.imageDigest ?? id.imageTag ?? '');
    if (!stored || (id.imageDigest && id.imageTag && (await ctx.registry.digestOf(id.imageTag)) !== id.imageDigest)) {
      failures.push({ imageId: id, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' });
      continue;
    }
    if (accepted && !accepted.includes(stored.mediaType)) {
      throw unsupported(`the manifest's media type ${stored.mediaType} is not in --accepted-media-types (ECR's answer for that is not documented)`);
    }
    images.push({
      registryId: ctx.registryId,
      repositoryName: ctx.repository,
      imageId: { imageDigest: stored.digest, ...(id.imageTag ? { imageTag: id.imageTag } : {}) },
      imageManifest: stored.body,
      imageManifestMediaType: stored.mediaType,
    });
  }
  return { images, failures };
}

async function putImage(ctx: Context): Promise<unknown> {
  const manifest = one(ctx.options, '--image-manifest')!;
  const tag = one(ctx.options, '--image-tag');
  const digest = sha256(manifest);
  const given = one(ctx.options, '--image-digest');
  if (given !== undefined && given !== digest) {
    throw new ServiceError('ImageDigestDoesNotMatchException', 'PutImage', 'The specified image digest does not match the digest that Amazon ECR calculated for the image.');
  }
  let declared: string | undefined;
  try { declared = JSON.parse(manifest).mediaType; } catch {
    throw new ServiceError('InvalidParameterException', 'PutImage', 'Invalid parameter at \'ImageManifest\' failed to satisfy constraint: \'Invalid JSON syntax\'');
  }
  const mediaType = one(ctx.options, '--image-manifest-media-type') ?? declared;
  if (!mediaType) {
    throw new ServiceError('InvalidParameterException', 'PutImage', 'Invalid parameter: the manifest has no mediaType field, so --image-manifest-media-type is required');
  }
  const existing = await ctx.registry.digestOf(tag ?? digest);
  if (existing === digest) {
    throw new ServiceError('ImageAlreadyExistsException', 'PutImage', tag
      ? `Image with digest '${digest}' and tag '${tag}' already exists in the repository with name '${ctx.repository}' in registry with id '${ctx.registryId}'`
      : `Image with digest '${digest}' already exists in the repository with name '${ctx.repository}' in registry with id '${ctx.registryId}'`);
  }
  const r = await ctx.registry.put(tag ?? digest, manifest, mediaType);
  if (r.status !== 201) {
    if (r.status === 404 && r.code === 'NAME_UNKNOWN') throw ctx.registry.repositoryNotFound();
    if (r.code === 'TAG_INVALID' && /already exists/.test(r.message ?? '')) throw new ServiceError('ImageTagAlreadyExistsException', 'PutImage', r.message!);
    if (r.code === 'TAG_INVALID' || r.code === 'MANIFEST_INVALID') throw new ServiceError('InvalidParameterException', 'PutImage', r.message ?? '');
    if (r.code === 'MANIFEST_BLOB_UNKNOWN') throw new ServiceError('LayersNotFoundException', 'PutImage', r.message ?? '');
    throw new CliExit(255, `aws stand-in: PUT manifest: HTTP ${r.status} ${r.code ?? ''} ${r.message ?? ''}\n`);
  }
  return {
    image: {
      registryId: ctx.registryId,
      repositoryName: ctx.repository,
      imageId: { imageDigest: digest, ...(tag ? { imageTag: tag } : {}) },
      imageManifest: manifest,
      imageManifestMediaType: mediaType,
    },
  };
}

// ------------------------------------------------------------------ main
export async function awsStandIn(argv: string[], out: (s: string) => void): Promise<void> {
  const [service, operation, ...rest] = argv;
  if (service === 'ecr') return ecr(operation, rest, out);
  throw unsupported(argv.slice(0, 2).join(' '));
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  awsStandIn(argv, (s) => process.stdout.write(s)).catch((err) => {
    if (err instanceof CliExit) {
      process.stderr.write(err.message);
      process.exitCode = err.code;
    } else {
      process.stderr.write(`aws stand-in: ${(err as Error).stack ?? err}\n`);
      process.exitCode = 255;
    }
  });
}
