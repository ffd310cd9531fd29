import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { startFakeRegistry, sha256, FakeRegistry } from './fake-registry';
import { installAwsStandIn } from '../e2e/lib/ecr-env';
import { EcrProxy, startEcrProxy } from '../e2e/lib/ecr-proxy';

// The stand-in runs in bash, as the buildspec runs it, against the ECR proxy in front of a fake
// registry. Commands run asynchronously: the proxy lives in this process and must keep answering.

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const ACCEPTED = `${OCI_MANIFEST} application/vnd.docker.distribution.manifest.v2+json`;
let upstream: FakeRegistry;
let proxy: EcrProxy;
let dir: string;
let m1: string;
let m2: string;

async function put(p: string, body: string | Buffer, contentType: string): Promise<void> {
  const r = await fetch(`http://${proxy.address}${p}`, { method: 'PUT', body, headers: { 'Content-Type': contentType } });
  if (r.status !== 201) throw new Error(`PUT ${p}: ${r.status} ${await r.text()}`);
}

async function manifestWithBlobs(repo: string, seed: string): Promise<string> {
  const config = Buffer.from(JSON.stringify({ os: 'linux', seed }));
  const layer = Buffer.from(`layer ${seed} `.repeat(10));
  for (const blob of [config, layer]) {
    const start = await fetch(`http://${proxy.address}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    const location = new URL(start.headers.get('location')!);
    location.searchParams.set('digest', sha256(blob));
    await put(location.pathname + location.search, blob, 'application/octet-stream');
  }
  // Like BuildKit's: compact JSON, no trailing newline.
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
  });
}

beforeAll(async () => {
  upstream = await startFakeRegistry();
  proxy = await startEcrProxy({
    upstream: upstream.address,
    config: {
      repositories: {
        'app': { imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'latest' }] },
        'app-cache': { imageTagMutability: 'MUTABLE' },
        'empty': { imageTagMutability: 'IMMUTABLE' },
      },
    },
  });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aws-stand-in-'));
  installAwsStandIn(path.join(dir, 'bin'));
  m1 = await manifestWithBlobs('app', 'one');
  m2 = await manifestWithBlobs('app', 'two');
  await put('/v2/app/manifests/c1', m1, OCI_MANIFEST);
  await put('/v2/app/manifests/latest', m1, OCI_MANIFEST);
  await put('/v2/app-cache/manifests/main-e3', m2, OCI_MANIFEST);
  await put('/v2/app-cache/manifests/main-e5', m1, OCI_MANIFEST);
}, 60_000);

afterAll(async () => {
  await proxy.close();
  await upstream.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Run { code: number; stdout: string; stderr: string }

function sh(script: string, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile('bash', ['--norc', '--noprofile', '-c', script], {
      env: {
        PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin`,
        E2E_ECR_PROXY: proxy.address,
        E2E_AWS_CALLS: path.join(dir, 'calls.txt'),
        E2E_METRICS: path.join(dir, 'metrics.txt'),
        AWS_REGION: 'us-east-1',
        ...env,
      },
    }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

const d1 = () => sha256(m1);
const d2 = () => sha256(m2);
const cliError = (code: string, operation: string, message: string) => `\nAn error occurred (${code}) when calling the ${operation} operation: ${message}\n`;

describe('aws ecr get-login-password, cloudwatch put-metric-data, and the record of calls', () => {
  test('a token for docker login, and every call recorded', async () => {
    fs.rmSync(path.join(dir, 'calls.txt'), { force: true });
    const r = await sh('aws ecr get-login-password --region us-east-1');
    expect(r).toEqual({ code: 0, stdout: 'e2e-stand-in-password\n', stderr: '' });
    await sh('aws cloudwatch put-metric-data --region us-east-1 --namespace CachedImageBuild --metric-data \'[{"MetricName":"CachedSteps","Value":5}]\'');
    expect(fs.readFileSync(path.join(dir, 'calls.txt'), 'utf8')).toBe(
      'ecr get-login-password --region us-east-1\ncloudwatch put-metric-data --region us-east-1 --namespace CachedImageBuild --metric-data [{"MetricName":"CachedSteps","Value":5}]\n');
    expect(fs.readFileSync(path.join(dir, 'metrics.txt'), 'utf8')).toContain('--metric-data [{"MetricName":"CachedSteps","Value":5}]');
  });
});

describe('aws ecr list-images', () => {
  test('--query \'imageIds[].imageTag\' --output text: the tags, tab-separated, as the inline strategy reads them', async () => {
    const r = await sh('aws ecr list-images --region us-east-1 --registry-id 127 --repository-name app-cache --filter tagStatus=TAGGED --query \'imageIds[].imageTag\' --output text');
    expect(r).toEqual({ code: 0, stdout: 'main-e3\tmain-e5\n', stderr: '' });
  });

  test('JSON output: imageIds with digest and tag', async () => {
    const r = await sh('aws ecr list-images --repository-name app');
    expect(JSON.parse(r.stdout)).toEqual({ imageIds: [{ imageDigest: d1(), imageTag: 'c1' }, { imageDigest: d1(), imageTag: 'latest' }] });
    expect(r.stdout).toMatch(/^\{\n {4}"imageIds": \[\n {8}\{\n {12}"imageDigest"/);
  });

  test('an existing, empty repository lists nothing; a missing one is RepositoryNotFoundException (exit 254)', async () => {
    expect(JSON.parse((await sh('aws ecr list-images --repository-name empty')).stdout)).toEqual({ imageIds: [] });
    expect(await sh('aws ecr list-images --repository-name nope --query \'imageIds[].imageTag\' --output text')).toEqual({
      code: 254, stdout: '', stderr: cliError('RepositoryNotFoundException', 'ListImages', 'The repository with name \'nope\' does not exist in the registry with id \'123456789012\''),
    });
  });
});

describe('aws ecr describe-images', () => {
  test('imageDetails of a tag, with every tag of the image', async () => {
    const r = await sh('aws ecr describe-images --repository-name app --image-ids imageTag=c1');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      imageDetails: [{
        registryId: '123456789012',
        repositoryName: 'app',
        imageDigest: d1(),
        imageTags: ['c1', 'latest'],
        imageSizeInBytes: JSON.parse(m1).layers[0].size,
        imageManifestMediaType: OCI_MANIFEST,
        artifactMediaType: 'application/vnd.oci.image.config.v1+json',
      }],
    });
  });

  test('--query \'imageDetails[0].imageDigest\' --output text prints the digest', async () => {
    expect(await sh('aws ecr describe-images --region us-east-1 --repository-name app --image-ids imageTag=c1 --query \'imageDetails[0].imageDigest\' --output text'))
      .toEqual({ code: 0, stdout: `${d1()}\n`, stderr: '' });
  });

  test('a missing tag is ImageNotFoundException with ECR\'s text, exit 254, nothing on stdout; also in an empty repository', async () => {
    expect(await sh('aws ecr describe-images --repository-name app --image-ids imageTag=nope --query \'imageDetails[0].imageDigest\' --output text')).toEqual({
      code: 254,
      stdout: '',
      stderr: cliError('ImageNotFoundException', 'DescribeImages', 'The image with imageId {imageDigest:\'null\', imageTag:\'nope\'} does not exist within the repository with name \'app\' in the registry with id \'123456789012\''),
    });
    const empty = await sh('aws ecr describe-images --repository-name empty --image-ids imageTag=c1 --registry-id 210987654321');
    expect(empty.code).toBe(254);
    expect(empty.stderr).toBe(cliError('ImageNotFoundException', 'DescribeImages', 'The image with imageId {imageDigest:\'null\', imageTag:\'c1\'} does not exist within the repository with name \'empty\' in the registry with id \'210987654321\''));
  });

  test('a missing repository is RepositoryNotFoundException', async () => {
    expect(await sh('aws ecr describe-images --repository-name nope --image-ids imageTag=c1')).toEqual({
      code: 254, stdout: '', stderr: cliError('RepositoryNotFoundException', 'DescribeImages', 'The repository with name \'nope\' does not exist in the registry with id \'123456789012\''),
    });
  });

  test('a shell can branch on the exit code, as a lookup before the build does', async () => {
    const r = await sh('if d="$(aws ecr describe-images --repository-name app --image-ids imageTag=c1 --query \'imageDetails[0].imageDigest\' --output text 2>/dev/null)"; then echo "exists $d"; else echo "missing $?"; fi; ' +
      'if aws ecr describe-images --repository-name app --image-ids imageTag=c9 >/dev/null 2>&1; then echo exists; else echo "missing $?"; fi');
    expect(r.stdout).toBe(`exists ${d1()}\nmissing 254\n`);
  });
});

describe('aws ecr batch-get-image', () => {
  test('--query \'images[0].imageManifest\' --output text prints the manifest exactly as stored; imageManifestMediaType', async () => {
    const r = await sh(`aws ecr batch-get-image --repository-name app --image-ids imageTag=c1 --accepted-media-types ${ACCEPTED} --query 'images[0].imageManifest' --output text`);
    expect(r).toEqual({ code: 0, stdout: `${m1}\n`, stderr: '' });
    const t = await sh(`aws ecr batch-get-image --repository-name app --image-ids imageTag=c1 --accepted-media-types ${ACCEPTED} --query 'images[0].imageManifestMediaType' --output text`);
    expect(t.stdout).toBe(`${OCI_MANIFEST}\n`);
  });

  test('JSON output', async () => {
    const r = await sh('aws ecr batch-get-image --repository-name app --image-ids imageTag=c1');
    expect(JSON.parse(r.stdout)).toEqual({
      images: [{ registryId: '123456789012', repositoryName: 'app', imageId: { imageDigest: d1(), imageTag: 'c1' }, imageManifest: m1, imageManifestMediaType: OCI_MANIFEST }],
      failures: [],
    });
  });

  test('a missing image is a failure entry, exit 0 (None with --output text)', async () => {
    const r = await sh('aws ecr batch-get-image --repository-name app --image-ids imageTag=nope');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ images: [], failures: [{ imageId: { imageTag: 'nope' }, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' }] });
    expect(await sh('aws ecr batch-get-image --repository-name app --image-ids imageTag=nope --query \'images[0].imageManifest\' --output text')).toEqual({ code: 0, stdout: 'None\n', stderr: '' });
  });

  test('a manifest type outside --accepted-media-types is refused loudly (ECR\'s answer is not known)', async () => {
    const r = await sh('aws ecr batch-get-image --repository-name app --image-ids imageTag=c1 --accepted-media-types application/vnd.docker.distribution.manifest.v2+json');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unsupported: the manifest's media type application\/vnd.oci.image.manifest.v1\+json is not in --accepted-media-types/);
  });
});

describe('aws ecr put-image (re-tag by manifest, through the proxy)', () => {
  const getManifest = `M="$(aws ecr batch-get-image --repository-name app --image-ids imageTag=c1 --accepted-media-types ${ACCEPTED} --query 'images[0].imageManifest' --output text)"`;

  test('a new tag gets the existing image by its manifest, keeping the digest', async () => {
    const r = await sh(`${getManifest} && aws ecr put-image --repository-name app --image-tag c2 --image-manifest "$M" --image-manifest-media-type ${OCI_MANIFEST} --query image.imageId.imageDigest --output text`);
    expect(r).toEqual({ code: 0, stdout: `${d1()}\n`, stderr: '' });
    expect((await sh('aws ecr describe-images --repository-name app --image-ids imageTag=c2 --query \'imageDetails[0].imageDigest\' --output text')).stdout).toBe(`${d1()}\n`);
    const json = await sh(`${getManifest} && aws ecr put-image --repository-name app --image-tag c3 --image-manifest "$M"`);
    expect(JSON.parse(json.stdout)).toEqual({
      image: { registryId: '123456789012', repositoryName: 'app', imageId: { imageDigest: d1(), imageTag: 'c3' }, imageManifest: m1, imageManifestMediaType: OCI_MANIFEST },
    });
  });

  test('the tag already holds this manifest: ImageAlreadyExistsException (exit 254), in an immutable and in a mutable repository', async () => {
    expect(await sh(`${getManifest} && aws ecr put-image --repository-name app --image-tag c1 --image-manifest "$M"`)).toEqual({
      code: 254,
      stdout: '',
      stderr: cliError('ImageAlreadyExistsException', 'PutImage', `Image with digest '${d1()}' and tag 'c1' already exists in the repository with name 'app' in registry with id '123456789012'`),
    });
    const mutable = await sh(`${getManifest} && aws ecr put-image --repository-name app-cache --image-tag main-e5 --image-manifest "$M"`);
    expect(mutable.code).toBe(254);
    expect(mutable.stderr).toMatch(/^\nAn error occurred \(ImageAlreadyExistsException\) when calling the PutImage operation: Image with digest/);
  });

  test('an excluded tag (latest) moves; an immutable one is ImageTagAlreadyExistsException with ECR\'s text and keeps its image', async () => {
    const other = `M2='${m2}'`;
    expect((await sh(`${other} && aws ecr put-image --repository-name app --image-tag latest --image-manifest "$M2" --query image.imageId.imageDigest --output text`)).stdout).toBe(`${d2()}\n`);
    expect(await sh(`${other} && aws ecr put-image --repository-name app --image-tag c1 --image-manifest "$M2"`)).toEqual({
      code: 254,
      stdout: '',
      stderr: cliError('ImageTagAlreadyExistsException', 'PutImage', 'The image tag \'c1\' already exists in the \'app\' repository and cannot be overwritten because the tag is immutable.'),
    });
    expect((await sh('aws ecr describe-images --repository-name app --image-ids imageTag=c1 --query \'imageDetails[0].imageDigest\' --output text')).stdout).toBe(`${d1()}\n`);
  });

  test('an invalid tag, a wrong --image-digest and a missing repository are refused like ECR refuses them', async () => {
    const invalid = await sh(`${getManifest} && aws ecr put-image --repository-name app --image-tag .x --image-manifest "$M"`);
    expect(invalid.code).toBe(254);
    expect(invalid.stderr).toMatch(/^\nAn error occurred \(InvalidParameterException\) when calling the PutImage operation: The image tag '.x' is not valid/);
    const digest = await sh(`${getManifest} && aws ecr put-image --repository-name app --image-tag c4 --image-manifest "$M" --image-digest sha256:${'0'.repeat(64)}`);
    expect(digest.stderr).toBe(cliError('ImageDigestDoesNotMatchException', 'PutImage', 'The specified image digest does not match the digest that Amazon ECR calculated for the image.'));
    const missing = await sh(`${getManifest} && aws ecr put-image --repository-name nope --image-tag c1 --image-manifest "$M"`);
    expect(missing.stderr).toBe(cliError('RepositoryNotFoundException', 'PutImage', 'The repository with name \'nope\' does not exist in the registry with id \'123456789012\''));
  });
});

describe('what the stand-in does not do, it says', () => {
  test.each([
    ['aws ecr list-images --repository-name app --bogus 1', 252, /Unknown options: --bogus/],
    ['aws ecr describe-images', 252, /the following arguments are required: --repository-name/],
    ['aws ecr list-images --repository-name app --query \'imageIds[?imageTag==`c1`]\'', 2, /unsupported: --query/],
    ['aws ecr describe-images --repository-name app --image-ids imageTag=c1 --output text', 2, /unsupported: --output text of a structure/],
    ['aws ecr batch-delete-image --repository-name app --image-ids imageTag=c1', 2, /unsupported: ecr batch-delete-image/],
    ['aws sts get-caller-identity', 2, /unsupported command: sts get-caller-identity/],
    ['env -u AWS_REGION aws ecr list-images --repository-name app', 253, /You must specify a region/],
  ])('%s: exit %d', async (script, code, message) => {
    const r = await sh(script);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });
});
