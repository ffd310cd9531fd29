import { accessDenied, healthyRegistry, noCredentials, throttled } from './fixtures';
import { BASE_ARGS, check, doctor, mockedEcr, runCli } from './helpers';
import { main } from '../src/cli';

const ecr = mockedEcr();

describe('errors that stop the doctor (exit 2)', () => {
  test('no credentials: says how to configure them', async () => {
    // GIVEN
    ecr.onAnyCommand().rejects(noCredentials());

    // WHEN
    const run = await runCli(undefined, undefined, BASE_ARGS);

    // THEN
    expect(run.code).toEqual(2);
    expect(run.stdout).toEqual('');
    expect(run.stderr).toContain('could not check: No AWS credentials could be loaded (Could not load credentials from any providers).');
    expect(run.stderr).toContain('set AWS_PROFILE to a profile');
    expect(run.stderr).toContain('AWS_ACCESS_KEY_ID');
  });

  test('no credentials with --json: a JSON error on stdout too', async () => {
    ecr.onAnyCommand().rejects(noCredentials());
    const run = await runCli(undefined, undefined, [...BASE_ARGS, '--json']);
    expect(run.code).toEqual(2);
    const out = JSON.parse(run.stdout);
    expect(out).toEqual({ verdict: 'incomplete', exitCode: 2, error: expect.stringContaining('No AWS credentials could be loaded') });
  });

  test('rejected credentials (UnrecognizedClientException)', async () => {
    ecr.onAnyCommand().rejects(Object.assign(new Error('The security token included in the request is invalid.'), { name: 'UnrecognizedClientException' }));
    const run = await runCli(undefined, undefined, BASE_ARGS);
    expect(run.code).toEqual(2);
    expect(run.stderr).toContain('AWS rejected the credentials (UnrecognizedClientException: The security token included in the request is invalid.)');
  });

  test('an unreachable endpoint names the region', async () => {
    ecr.onAnyCommand().rejects(Object.assign(new Error('getaddrinfo ENOTFOUND api.ecr.us-east-1.amazonaws.com'), { code: 'ENOTFOUND' }));
    const run = await runCli(undefined, undefined, BASE_ARGS);
    expect(run.code).toEqual(2);
    expect(run.stderr).toContain('Could not reach the ECR endpoint of region us-east-1 (ENOTFOUND');
  });

  test('no region anywhere: asks for --region', async () => {
    // GIVEN: no region in the environment or in a config file
    const saved = { ...process.env };
    for (const name of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE']) delete process.env[name];
    process.env.AWS_CONFIG_FILE = '/nonexistent/aws-config';
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/aws-credentials';
    try {
      // WHEN: the CLI's own client factory
      let stderr = '';
      const code = await main(['--repository', 'api', '--cache-repository', 'api-cache'], {
        stdout: () => undefined,
        stderr: (t) => { stderr += t; },
      });

      // THEN
      expect(code).toEqual(2);
      expect(stderr).toContain('No AWS region: pass --region REGION, or set AWS_REGION');
    } finally {
      process.env = saved;
    }
  });

  test('an error that is no AWS answer is reported by the check that met it', async () => {
    ecr.onAnyCommand().rejects(new TypeError('Cannot read properties of undefined'));
    const run = await runCli(undefined, undefined, [...BASE_ARGS, '--json']);
    expect(run.code).toEqual(2);
    expect(JSON.parse(run.stdout).checks[0].summary).toEqual('could not check: ecr:DescribeRepositories failed: TypeError: Cannot read properties of undefined');
  });
});

describe('errors that stop one check (exit 2, the other checks still run)', () => {
  test('access denied names the missing action', async () => {
    // GIVEN
    const registry = { ...healthyRegistry(), errors: { 'GetLifecyclePolicy:api-cache': accessDenied('ecr:GetLifecyclePolicy', 'api-cache') } };

    // WHEN
    const run = await runCli(ecr, registry, [...BASE_ARGS, '--json']);

    // THEN
    expect(run.code).toEqual(2);
    const out = JSON.parse(run.stdout);
    expect(out.verdict).toEqual('incomplete');
    const lifecycle = out.checks.find((c: { id: string }) => c.id === 'cache-lifecycle');
    expect(lifecycle.status).toEqual('error');
    expect(lifecycle.summary).toContain('could not check: access denied: the caller is not allowed ecr:GetLifecyclePolicy');
    expect(lifecycle.fix).toContain('allow ecr:GetLifecyclePolicy for the caller');
    expect(out.checks.filter((c: { status: string }) => c.status === 'pass')).toHaveLength(8);
  });

  test('access denied on DescribeRepositories skips the checks that need the repository settings', async () => {
    const registry = { ...healthyRegistry(), errors: { 'DescribeRepositories:api-cache': accessDenied('ecr:DescribeRepositories', 'api-cache') } };
    const report = await doctor(ecr, registry);
    expect(check(report, 'cache-repository').status).toEqual('error');
    expect(check(report, 'cache-repository').summary).toContain('ecr:DescribeRepositories');
    expect(check(report, 'cache-tag-mutability')).toMatchObject({ status: 'skip', summary: 'skipped: the cache repository could not be described' });
    expect(check(report, 'default-branch-cache').status).toEqual('pass');
  });

  test('throttling after the SDK retries is reported with the number of attempts', async () => {
    // GIVEN
    const registry = { ...healthyRegistry(), errors: { 'DescribeImages:api': throttled(5) } };

    // WHEN
    const run = await runCli(ecr, registry, BASE_ARGS);
    ecr.reset();
    const json = JSON.parse((await runCli(ecr, registry, [...BASE_ARGS, '--json'])).stdout);

    // THEN
    expect(run.code).toEqual(2);
    expect(run.stdout).toContain('Verdict: COULD NOT CHECK EVERYTHING (1 could not be checked, 8 passed, 1 skipped). Exit code 2.');
    expect(json.checks.find((c: { id: string }) => c.id === 'app-provenance')).toMatchObject({
      status: 'error',
      summary: 'could not check: ECR throttled ecr:DescribeImages after 5 attempts (ThrottlingException: Rate exceeded). ' +
        'Try again later, or allow more retries with --max-attempts.',
    });
  });
});
