/**
 * After the builds: the ECR proxy and the `aws` stand-in against the real registry (distribution),
 * with real clients, on a repository the builds filled (IMMUTABLE_WITH_EXCLUSION, `latest` excluded).
 * The unit tests (test/e2e-infra) cover the same rules against a fake registry.
 */
import { execFile, SpawnSyncReturns } from 'child_process';
import { immutableTagMessage } from './ecr-proxy';
import { Registry } from './registry';

export interface CheckResult { readonly name: string; readonly ok: boolean; readonly detail: string }

const ACCEPTED = 'application/vnd.oci.image.manifest.v1+json application/vnd.docker.distribution.manifest.v2+json ' +
  'application/vnd.oci.image.index.v1+json application/vnd.docker.distribution.manifest.list.v2+json';

function sh(script: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['--norc', '--noprofile', '-c', script], { env }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}

export async function ecrFidelityChecks(options: {
  /** The proxy (host:port) and the registry behind it. */
  readonly ecr: string;
  readonly registry: string;
  /** A repository the builds pushed to, with its commit tags and latest. */
  readonly repository: string;
  /** Environment with the stand-in `aws` on PATH. */
  readonly env: Record<string, string>;
  /** Runs the docker client of an engine (with a fresh client config). */
  readonly docker: (args: string[]) => SpawnSyncReturns<string>;
}): Promise<CheckResult[]> {
  const { ecr, repository } = options;
  const results: CheckResult[] = [];
  const add = (name: string, ok: boolean, detail = '') => results.push({ name, ok, detail });
  const registry = new Registry(options.registry);
  const latest = await registry.manifest(repository, 'latest');
  const tags = [];
  for (const t of (await registry.tags(repository)).filter((x) => x !== 'latest')) tags.push({ tag: t, digest: (await registry.manifest(repository, t))?.digest });
  const current = tags.find((t) => t.digest === latest?.digest);
  const older = tags.find((t) => t.digest !== latest?.digest);
  if (!latest || !current || !older) {
    add(`ECR proxy checks: ${repository} holds latest and two commit tags`, false, `${tags.length} tags`);
    return results;
  }
  const raw = await fetch(`http://${ecr}/v2/${repository}/manifests/latest`, { headers: { Accept: latest.mediaType } });
  const manifest = await raw.text();
  const put = (tag: string, body: string) => fetch(`http://${ecr}/v2/${repository}/manifests/${tag}`, { method: 'PUT', body, headers: { 'Content-Type': latest.mediaType } });

  // The registry path (what docker/buildx/buildah send).
  const again = await put(current.tag, manifest);
  const againBody = await again.text();
  add(`ECR proxy, real registry: re-putting the identical manifest to the commit tag ${current.tag} is refused (400 TAG_INVALID, ECR's text)`,
    again.status === 400 && againBody === JSON.stringify({ errors: [{ code: 'TAG_INVALID', message: immutableTagMessage(repository, current.tag) }] }), `${again.status} ${againBody}`);
  const moveLatest = await put('latest', manifest);
  add('ECR proxy, real registry: latest (excluded from immutability) takes a re-put', moveLatest.status === 201, `${moveLatest.status}`);
  add('ECR proxy, real registry: the commit tags kept their images', (await registry.manifest(repository, current.tag))?.digest === current.digest &&
    (await registry.manifest(repository, older.tag))?.digest === older.digest);

  // The aws stand-in on the real registry.
  const env = options.env;
  const digestOf = (tag: string) => `aws ecr describe-images --region us-east-1 --repository-name ${repository} --image-ids imageTag=${tag} --query 'imageDetails[0].imageDigest' --output text`;
  const d = await sh(digestOf(current.tag), env);
  add(`aws stand-in, real registry: describe-images ${current.tag} gives its digest`, d.code === 0 && d.stdout.trim() === current.digest, `${d.code} ${d.stdout.trim()} ${d.stderr.trim()}`);
  const missing = await sh(digestOf('no-such-tag'), env);
  add('aws stand-in, real registry: describe-images of a missing tag is ImageNotFoundException, exit 254',
    missing.code === 254 && missing.stderr.startsWith('\nAn error occurred (ImageNotFoundException) when calling the DescribeImages operation: The image with imageId {imageDigest:\'null\', imageTag:\'no-such-tag\'}'),
    `${missing.code} ${missing.stderr.trim()}`);
  const getManifest = (tag: string) => `"$(aws ecr batch-get-image --region us-east-1 --repository-name ${repository} --image-ids imageTag=${tag} --accepted-media-types ${ACCEPTED} --query 'images[0].imageManifest' --output text)"`;
  const retag = await sh(`M=${getManifest(current.tag)} && aws ecr put-image --region us-east-1 --repository-name ${repository} --image-tag e2e-retag-check --image-manifest "$M" --query image.imageId.imageDigest --output text`, env);
  const retagged = await registry.manifest(repository, 'e2e-retag-check');
  add('aws stand-in, real registry: batch-get-image + put-image to a new tag keeps the digest',
    retag.code === 0 && retag.stdout.trim() === current.digest && retagged?.digest === current.digest, `${retag.code} ${retag.stdout.trim()} ${retag.stderr.trim()} -> ${retagged?.digest}`);
  const same = await sh(`M=${getManifest(current.tag)} && aws ecr put-image --region us-east-1 --repository-name ${repository} --image-tag ${current.tag} --image-manifest "$M"`, env);
  add('aws stand-in, real registry: put-image of the manifest the tag already holds is ImageAlreadyExistsException, exit 254',
    same.code === 254 && same.stderr.includes('(ImageAlreadyExistsException) when calling the PutImage operation'), `${same.code} ${same.stderr.trim()}`);
  const move = await sh(`M=${getManifest(older.tag)} && aws ecr put-image --region us-east-1 --repository-name ${repository} --image-tag ${current.tag} --image-manifest "$M"`, env);
  add('aws stand-in, real registry: put-image moving a commit tag is ImageTagAlreadyExistsException with ECR\'s text, exit 254',
    move.code === 254 && move.stderr === `\nAn error occurred (ImageTagAlreadyExistsException) when calling the PutImage operation: ${immutableTagMessage(repository, current.tag)}\n`,
    `${move.code} ${move.stderr.trim()}`);

  // A real client: `docker push` of the same image again, as a retried build would.
  const ref = `${ecr}/${repository}`;
  const pulled = options.docker(['pull', '-q', `${ref}@${current.digest}`]);
  const tagged = options.docker(['tag', `${ref}@${current.digest}`, `${ref}:${current.tag}`]);
  const pushed = options.docker(['push', `${ref}:${current.tag}`]);
  const output = `${pushed.stdout}${pushed.stderr}`;
  add('docker push of the same image to the commit tag again fails as on ECR (tag invalid: ...)',
    pulled.status === 0 && tagged.status === 0 && pushed.status !== 0 && output.includes(`tag invalid: ${immutableTagMessage(repository, current.tag)}`),
    `pull ${pulled.status}, tag ${tagged.status}, push ${pushed.status}: ${output.trim().split('\n').slice(-1)[0]}`);
  options.docker(['image', 'rm', '-f', `${ref}:${current.tag}`]);
  return results;
}
