import { readFileSync } from 'fs';
import * as path from 'path';
import { FEATURE_LOGIN, brokenRegistry, healthyRegistry } from './fixtures';
import { BASE_ARGS, mockedEcr, runCli } from './helpers';

const ecr = mockedEcr();

const ARGS = [...BASE_ARGS, '--branch', 'feature/login'];
const CHECK_IDS = [
  'app-repository',
  'cache-repository',
  'cache-layout',
  'cache-tag-mutability',
  'cache-lifecycle',
  'cache-scan-on-push',
  'default-branch-cache',
  'branch-cache',
  'cache-scopes',
  'app-provenance',
];

/** The verdict label of each check, in the order printed: `[['PASS', 'Application repository exists'], ...]`. */
function verdicts(stdout: string): string[][] {
  return stdout.split('\n')
    .map((l) => /^(PASS|WARN|FAIL|ERROR|SKIP) +(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1], m[2]]);
}

describe('the CLI entry point, ECR mocked', () => {
  test('a healthy setup: every check passes, exit code 0', async () => {
    // WHEN
    const run = await runCli(ecr, healthyRegistry(), ARGS);

    // THEN
    expect(run.code).toEqual(0);
    expect(run.stderr).toEqual('');
    expect(run.stdout.split('\n').slice(0, 7)).toEqual([
      'cdk-cached-image-build-doctor',
      '  region            us-east-1',
      '  repository        api',
      '  cache repository  api-cache',
      '  cache strategy    registry (detected from the tags)',
      '  default branch    main (cache scope main)',
      `  branch            feature/login (cache scope ${FEATURE_LOGIN})`,
    ]);
    expect(verdicts(run.stdout)).toEqual([
      ['PASS', 'Application repository exists'],
      ['PASS', 'Cache repository exists'],
      ['PASS', 'Cache layout'],
      ['PASS', 'Cache tags are mutable'],
      ['PASS', 'Lifecycle rules keep the default-branch cache'],
      ['PASS', 'Cache repository does not scan on push'],
      ['PASS', 'Default-branch cache (main)'],
      ['PASS', 'Branch cache (feature/login)'],
      ['PASS', 'Cache scopes'],
      ['PASS', 'Application images are single manifests (no provenance index)'],
    ]);
    expect(run.stdout).toContain('      - pushed: 2026-03-10T07:00:00Z (5 hours ago)\n      - size: 179.0 MiB\n');
    expect(run.stdout.trimEnd().split('\n').pop()).toEqual('Verdict: HEALTHY: no problem found (10 passed). Exit code 0.');
  });

  test('a broken setup: each problem has its verdict and a fix, exit code 1', async () => {
    // WHEN
    const run = await runCli(ecr, brokenRegistry(), ARGS);

    // THEN
    expect(run.code).toEqual(1);
    expect(verdicts(run.stdout)).toEqual([
      ['PASS', 'Application repository exists'],
      ['PASS', 'Cache repository exists'],
      ['PASS', 'Cache layout'],
      ['FAIL', 'Cache tags are mutable'],
      ['FAIL', 'Lifecycle rules keep the default-branch cache'],
      ['WARN', 'Cache repository does not scan on push'],
      ['FAIL', 'Default-branch cache (main)'],
      ['WARN', 'Branch cache (feature/login)'],
      ['PASS', 'Cache scopes'],
      ['WARN', 'Application images are single manifests (no provenance index)'],
    ]);
    expect(run.stdout).toContain('      IMMUTABLE: a build cannot overwrite an existing immutable cache tag');
    expect(run.stdout).toContain('      fix: make the cache tags mutable:\n' +
      '           `aws ecr put-image-tag-mutability --repository-name api-cache --image-tag-mutability MUTABLE`\n');
    expect(run.stdout).toContain('      tag main: the cache tag holds an OCI image index (application/vnd.oci.image.index.v1+json):');
    expect(run.stdout).toContain('AWS Lambda\n      rejects them');
    expect(run.stdout.trimEnd().split('\n').pop()).toEqual('Verdict: PROBLEMS FOUND (3 failed, 3 warnings, 4 passed). Exit code 1.');
  });

  test('--json: the report for scripts', async () => {
    // WHEN
    const run = await runCli(ecr, brokenRegistry(), [...ARGS, '--json']);

    // THEN
    expect(run.code).toEqual(1);
    const out = JSON.parse(run.stdout);
    expect(Object.keys(out)).toEqual(['verdict', 'exitCode', 'target', 'counts', 'checks']);
    expect(out).toMatchObject({
      verdict: 'problems',
      exitCode: 1,
      target: {
        region: 'us-east-1',
        repository: 'api',
        cacheRepository: 'api-cache',
        branch: 'feature/login',
        branchTag: FEATURE_LOGIN,
        defaultBranch: 'main',
        defaultBranchTag: 'main',
        strategy: 'registry',
        strategySource: 'tags',
        architectures: [],
      },
      counts: { pass: 4, warn: 3, fail: 3, error: 0, skip: 0 },
    });
    expect(out.checks.map((c: { id: string }) => c.id)).toEqual(CHECK_IDS);
    for (const c of out.checks) {
      expect(Object.keys(c).sort()).toEqual(expect.arrayContaining(['details', 'id', 'status', 'summary', 'title']));
      expect(['pass', 'warn', 'fail', 'error', 'skip']).toContain(c.status);
    }
    expect(out.checks[6]).toMatchObject({
      id: 'default-branch-cache',
      status: 'fail',
      details: expect.arrayContaining(['manifest: OCI image index (application/vnd.oci.image.index.v1+json)', 'size: 30.5 MiB']),
    });
  });

  test('--json on a healthy setup: verdict healthy, exit code 0', async () => {
    const run = await runCli(ecr, healthyRegistry(), [...ARGS, '--json']);
    expect(run.code).toEqual(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ verdict: 'healthy', exitCode: 0, counts: { pass: 10 } });
  });

  test('--help prints the usage on stdout, exit code 0, and calls no AWS API', async () => {
    const run = await runCli(undefined, undefined, ['--help']);
    expect(run.code).toEqual(0);
    expect(run.stdout).toContain('Usage: cdk-cached-image-build-doctor --repository NAME --cache-repository NAME [options]');
    expect(run.stdout).toContain('Exit code: 0 healthy, 1 problems found, 2 could not check');
    expect(ecr.calls()).toHaveLength(0);
  });

  test.each([
    [['--repository', 'api'], 'cdk-cached-image-build-doctor: missing required --cache-repository'],
    [[...ARGS, '--colour'], "cdk-cached-image-build-doctor: Unknown option '--colour'"],
    [[...ARGS, '--region', 'mars'], "cdk-cached-image-build-doctor: --region: 'mars' is not an AWS region name"],
    [['diagnose'], "cdk-cached-image-build-doctor: unexpected argument 'diagnose'"],
  ])('bad arguments %j: a message and the usage on stderr, exit code 2', async (args, message) => {
    const run = await runCli(undefined, undefined, args);
    expect(run.code).toEqual(2);
    expect(run.stdout).toEqual('');
    expect(run.stderr).toContain(message);
    expect(run.stderr).toContain('Usage: cdk-cached-image-build-doctor --repository NAME --cache-repository NAME [options]\n' +
      "Run 'cdk-cached-image-build-doctor --help' for the options.");
    expect(ecr.calls()).toHaveLength(0);
  });
});

describe('packaging', () => {
  const root = path.join(__dirname, '..');

  test('package.json has the bin entry, whose source starts with a shebang', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(pkg.bin).toEqual({ 'cdk-cached-image-build-doctor': 'lib/cli.js' });
    expect(pkg.dependencies).toHaveProperty('@aws-sdk/client-ecr');
    expect(readFileSync(path.join(root, 'src', 'cli.ts'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });
});
