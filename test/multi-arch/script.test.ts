/** The multi-architecture build's own commands, executed in bash (a stand-in `docker` for the index step). */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { aws_codebuild as codebuild, aws_ecr_assets as ecr_assets } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CachedImageBuild } from '../../src';
import { ARCH_CACHE_SCOPES, ARCH_IMAGE_TAGS } from '../../src/multi-arch/script';
import { runCases } from '../helpers/bash-cases';
import { newStack } from '../helpers/construct';

const REPO = '123456789012.dkr.ecr.us-east-1.amazonaws.com/api';
const SHA = 'a'.repeat(40);

function buildSpec(): any {
  const stack = newStack();
  new CachedImageBuild(stack, 'Api', {
    repositoryName: 'api',
    platforms: [ecr_assets.Platform.LINUX_AMD64, ecr_assets.Platform.LINUX_ARM64],
    source: codebuild.Source.gitHub({ owner: 'o', repo: 'r', webhook: true, webhookTriggersBatchBuild: true }),
  });
  const [project] = Object.values<any>(Template.fromStack(stack).findResources('AWS::CodeBuild::Project'));
  return JSON.parse(project.Properties.Source.BuildSpec);
}
const spec = buildSpec();

/**
 * A stand-in for `docker buildx imagetools`: manifests are files in $FAKE_REG named after the
 * reference; `create` writes an index of its sources (by digest) under every --tag, leaving out
 * the architecture named in $FAKE_DROP; calls are recorded in $FAKE_REG/calls.
 */
function fakeDocker(): { bin: string; reg: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cib-multiarch-'));
  const bin = path.join(dir, 'bin');
  const reg = path.join(dir, 'reg');
  fs.mkdirSync(bin);
  fs.mkdirSync(reg);
  fs.writeFileSync(path.join(bin, 'docker'), [
    '#!/bin/bash',
    'f() { printf \'%s\' "$1" | tr \'/:@\' \'___\'; }',
    'if [ "$1 $2 $3" = "buildx imagetools inspect" ]; then [ -f "$FAKE_REG/$(f "$4")" ] || { echo "ERROR: $4: not found" >&2; exit 1; }; cat "$FAKE_REG/$(f "$4")"; exit 0; fi',
    'if [ "$1 $2 $3" = "buildx imagetools create" ]; then shift 3; echo "create $*" >> "$FAKE_REG/calls"; tags=(); m="";',
    '  while [ $# -gt 0 ]; do if [ "$1" = --tag ]; then tags+=("$2"); shift 2; else d="${1#*@}"; a="$(cat "$FAKE_REG/arch-$d")";',
    '    if [ "$a" != "${FAKE_DROP:-}" ]; then m="$m${m:+,}{\\"digest\\": \\"$d\\", \\"platform\\": {\\"architecture\\": \\"$a\\"}}"; fi; shift; fi; done',
    '  body="\\"manifests\\": [$m]"; dg="sha256:$(printf \'%s\' "$body" | sha256sum | cut -c1-64)";',
    '  for t in "${tags[@]}"; do printf \'{\\n  "digest": "%s",\\n  %s\\n}\\n\' "$dg" "$body" > "$FAKE_REG/$(f "$t")"; done; exit 0; fi',
    'echo "unexpected docker call: $*" >&2; exit 2',
  ].join('\n'), { mode: 0o755 });
  return { bin, reg };
}

/** A single-platform manifest under the per-architecture tag, as the architecture's build pushed it. */
function pushArch(reg: string, tag: string, arch: string): string {
  const digest = `sha256:${arch === 'amd64' ? '1'.repeat(64) : '2'.repeat(64)}`;
  const name = (ref: string) => ref.replace(/[/:@]/g, '_');
  fs.writeFileSync(path.join(reg, name(`${REPO}:${tag}`)), `{\n  "mediaType": "application/vnd.oci.image.manifest.v1+json",\n  "digest": "${digest}",\n  "size": 1\n}\n`);
  fs.writeFileSync(path.join(reg, `arch-${digest}`), arch);
  return digest;
}

const indexCommands: string[] = spec.phases.build.commands;
function indexCase(fake: { bin: string; reg: string }, extra: Record<string, string> = {}) {
  return {
    PATH: `${fake.bin}:/usr/bin:/bin`,
    FAKE_REG: fake.reg,
    CIB_STEP: 'index',
    CIB_PUSH: 'true',
    CIB_IMAGE_REPOSITORY_URI: REPO,
    IMAGE_TAG: SHA,
    IMAGE_URI: `${REPO}:${SHA}`,
    CIB_PUSH_TAGS: `${SHA} latest`,
    ...extra,
  };
}
const OUT = ['IMAGE_DIGEST', 'IMAGE_URI_AMD64', 'IMAGE_URI_ARM64'];

describe('the index step, in bash', () => {
  test('publishes the index of both architectures\' images, by digest, under every tag of the build', () => {
    const fake = fakeDocker();
    const dA = pushArch(fake.reg, `${SHA}-amd64`, 'amd64');
    const dB = pushArch(fake.reg, `${SHA}-arm64`, 'arm64');
    const [r] = runCases(indexCommands, [indexCase(fake)], OUT);
    expect(r.failed).toBe(-1);
    expect(fs.readFileSync(path.join(fake.reg, 'calls'), 'utf8').trim())
      .toBe(`create --tag ${REPO}:${SHA} --tag ${REPO}:latest ${REPO}@${dA} ${REPO}@${dB}`);
    const index = fs.readFileSync(path.join(fake.reg, `${REPO}:latest`.replace(/[/:@]/g, '_')), 'utf8');
    expect(r.vars.IMAGE_DIGEST).toBe(/"digest": "(sha256:[0-9a-f]{64})"/.exec(index)![1]);
    expect(r.vars.IMAGE_URI_AMD64).toBe(`${REPO}@${dA}`);
    expect(r.vars.IMAGE_URI_ARM64).toBe(`${REPO}@${dB}`);
    expect(r.stderr).toContain(`image index ${REPO}:${SHA} (${r.vars.IMAGE_DIGEST})`);
  });

  test('fails, naming the missing image, when an architecture\'s build pushed nothing; publishes no index', () => {
    const fake = fakeDocker();
    pushArch(fake.reg, `${SHA}-amd64`, 'amd64');
    const [r] = runCases(indexCommands, [indexCase(fake)], OUT);
    expect(indexCommands[r.failed]).toContain('CIB_DIGEST_ARM64=""');
    expect(r.stderr).toContain(`error: no linux/arm64 image at ${REPO}:${SHA}-arm64: the arm64 build did not push it`);
    // The phase aborts at its first failing command (on-failure: ABORT), before the index is created.
    expect(r.failed).toBeLessThan(indexCommands.findIndex((c) => c.includes('imagetools create')));
  });

  test('fails when the published index does not list an architecture\'s image', () => {
    const fake = fakeDocker();
    pushArch(fake.reg, `${SHA}-amd64`, 'amd64');
    const dB = pushArch(fake.reg, `${SHA}-arm64`, 'arm64');
    const [r] = runCases(indexCommands, [indexCase(fake, { FAKE_DROP: 'arm64' })], OUT);
    expect(indexCommands[r.failed]).toContain('export IMAGE_DIGEST=""');
    expect(r.stderr).toContain(`error: the image index at ${REPO}:${SHA} does not list the images ${dB}`);
  });

  test('a pull request that only builds publishes no index', () => {
    const fake = fakeDocker();
    const [r] = runCases(indexCommands, [indexCase(fake, { CIB_PUSH: 'false', IMAGE_TAG: '', CIB_PUSH_TAGS: '' })], OUT);
    expect(r.failed).toBe(-1);
    expect(r.stderr).toContain('pull request: building only, no image index');
    expect(r.vars.IMAGE_DIGEST).toBe('');
    expect(fs.existsSync(path.join(fake.reg, 'calls'))).toBe(false);
  });
});

describe('the architecture step, in bash', () => {
  test.each([
    ['the default branch', { CIB_CACHE_SCOPE: 'main', CIB_CACHE_WRITE_SCOPE: 'main', CIB_CACHE_READ_SCOPES: 'main' }, 'main-arm64', 'main-arm64'],
    ['a pull request into a branch', { CIB_CACHE_SCOPE: 'pr-12', CIB_CACHE_WRITE_SCOPE: 'pr-12', CIB_CACHE_READ_SCOPES: 'pr-12 br-dev main' }, 'pr-12-arm64',
      'pr-12-arm64 br-dev-arm64 main-arm64'],
    ['a build that writes no cache', { CIB_CACHE_SCOPE: 'pr-12', CIB_CACHE_WRITE_SCOPE: '', CIB_CACHE_READ_SCOPES: 'pr-12 main' }, '', 'pr-12-arm64 main-arm64'],
  ])('%s: every cache scope gets the architecture suffix', (_name, vars, write, read) => {
    const [r] = runCases([ARCH_CACHE_SCOPES], [{ CIB_STEP: 'build', CIB_ARCH: 'arm64', ...vars }], ['CIB_CACHE_WRITE_SCOPE', 'CIB_CACHE_READ_SCOPES', 'CACHE_SCOPE']);
    expect(r.failed).toBe(-1);
    expect(r.vars.CIB_CACHE_WRITE_SCOPE).toBe(write);
    expect(r.vars.CIB_CACHE_READ_SCOPES).toBe(read);
    expect(r.vars.CACHE_SCOPE).toBe(`${vars.CIB_CACHE_SCOPE}-arm64`);
  });

  test('the index step keeps the build\'s scopes and tags; the architecture step suffixes every tag', () => {
    const base = { CIB_ARCH: 'amd64', CIB_PUSH: 'true', CIB_PUSH_TAGS: `${SHA} latest`, IMAGE_TAG: SHA, CIB_COMMIT_TAG: SHA, CIB_IMAGE_REPOSITORY_URI: REPO };
    const [build, index] = runCases([ARCH_IMAGE_TAGS], [{ ...base, CIB_STEP: 'build' }, { ...base, CIB_STEP: 'index' }], ['CIB_PUSH_TAGS', 'IMAGE_TAG', 'IMAGE_URI']);
    expect(build.vars).toMatchObject({ CIB_PUSH_TAGS: `${SHA}-amd64 latest-amd64`, IMAGE_TAG: `${SHA}-amd64`, IMAGE_URI: `${REPO}:${SHA}-amd64` });
    expect(index.vars).toMatchObject({ CIB_PUSH_TAGS: `${SHA} latest`, IMAGE_TAG: SHA });
  });

  test('a build without a resolved commit fails in both steps: the builds would name their images differently', () => {
    const vars = { CIB_ARCH: 'amd64', CIB_PUSH: 'true', CIB_PUSH_TAGS: 'build-7 latest', IMAGE_TAG: 'build-7', CIB_COMMIT_TAG: 'build-7' };
    const rs = runCases([ARCH_IMAGE_TAGS], [{ ...vars, CIB_STEP: 'build' }, { ...vars, CIB_STEP: 'index' }], []);
    for (const r of rs) {
      expect(r.failed).toBe(0);
      expect(r.stderr).toContain('error: a multi-architecture build names its images by the commit');
    }
  });

  test('a build started without a step (a single build of the batch project) fails and says to start a batch', () => {
    const [r] = runCases([spec.phases.pre_build.commands[0]], [{}], []);
    expect(r.failed).toBe(0);
    expect(r.stderr).toContain('Start it as a batch build (aws codebuild start-build-batch, or webhookTriggersBatchBuild: true on the source)');
  });
});
