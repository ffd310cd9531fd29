import { parseDoctorArgs } from '../src/args';

const REQUIRED = ['--repository', 'api', '--cache-repository', 'api-cache'];

describe('parseDoctorArgs', () => {
  test('the required flags and the defaults', () => {
    expect(parseDoctorArgs(REQUIRED)).toEqual({
      kind: 'run',
      options: {
        repository: 'api',
        cacheRepository: 'api-cache',
        registryId: undefined,
        cacheRegistryId: undefined,
        region: undefined,
        profile: undefined,
        branch: undefined,
        branchTag: undefined,
        defaultBranch: 'main',
        defaultBranchTag: 'main',
        strategy: undefined,
        recentImages: 20,
        maxAttempts: 5,
        json: false,
      },
    });
  });

  test('every option', () => {
    const parsed = parseDoctorArgs([
      ...REQUIRED, '--region', 'eu-west-2', '--branch', 'refs/heads/feature/Login page', '--default-branch', 'trunk',
      '--profile', 'dev', '--recent-images', '100', '--max-attempts', '8', '--json', '--strategy', 'inline',
    ]);
    expect(parsed).toMatchObject({
      kind: 'run',
      options: {
        region: 'eu-west-2',
        branch: 'refs/heads/feature/Login page',
        branchTag: 'br-feature-Login-page-hcdad2f61b69a',
        defaultBranch: 'trunk',
        strategy: 'inline',
        defaultBranchTag: 'trunk',
        profile: 'dev',
        recentImages: 100,
        maxAttempts: 8,
        json: true,
      },
    });
  });

  test('repository URIs give the account and the region', () => {
    const parsed = parseDoctorArgs([
      '--repository', '123456789012.dkr.ecr.eu-central-1.amazonaws.com/team/api:latest',
      '--cache-repository', '210987654321.dkr.ecr.eu-central-1.amazonaws.com/team/api-cache',
    ]);
    expect(parsed).toMatchObject({
      kind: 'run',
      options: { repository: 'team/api', registryId: '123456789012', cacheRepository: 'team/api-cache', cacheRegistryId: '210987654321', region: 'eu-central-1' },
    });
  });

  test.each([
    ['-h'],
    ['--help'],
    ['--repository', 'api', '--help'],
  ])('%j asks for help', (...argv) => {
    expect(parseDoctorArgs(argv)).toEqual({ kind: 'help' });
  });

  test.each([
    [['doctor', '--repository', 'api', '--cache-repository', 'api-cache'], "unexpected argument 'doctor' (every option is a --flag)"],
    [[], 'missing required --repository and --cache-repository'],
    [['--repository', 'api'], 'missing required --cache-repository'],
    [[...REQUIRED, 'extra'], "unexpected argument 'extra'"],
    [[...REQUIRED, '--verbose'], "Unknown option '--verbose'"],
    [[...REQUIRED, '--region'], "Option '--region <value>' argument missing"],
    [[...REQUIRED, '--region', 'moon-1'], "--region: 'moon-1' is not an AWS region name (like us-east-1 or eu-west-2)"],
    [[...REQUIRED, '--region', 'US-EAST-1'], "--region: 'US-EAST-1' is not an AWS region name"],
    [['--repository', 'API', '--cache-repository', 'api-cache'], "--repository: 'API' is not an ECR repository name"],
    [['--repository', 'api', '--cache-repository', 'a'], "--cache-repository: 'a' is not an ECR repository name"],
    [['--repository', '123456789012.dkr.ecr.us-east-1.amazonaws.com/api', '--cache-repository', 'api-cache', '--region', 'eu-west-1'],
      'the repositories and --region name different regions (eu-west-1, us-east-1)'],
    [[...REQUIRED, '--default-branch', '///'], "--default-branch: '///' has no character that can start an ECR tag"],
    [[...REQUIRED, '--branch', ''], '--branch must not be empty'],
    [[...REQUIRED, '--recent-images', '0'], "--recent-images must be a whole number from 1 to 100; got '0'"],
    [[...REQUIRED, '--recent-images', '101'], "--recent-images must be a whole number from 1 to 100; got '101'"],
    [[...REQUIRED, '--max-attempts', 'many'], "--max-attempts must be a whole number from 1 to 20; got 'many'"],
    [[...REQUIRED, '--strategy', 'kaniko'], "--strategy must be one of registry, inline, buildah; got 'kaniko'"],
    [[...REQUIRED, '--strategy', 'Registry'], "--strategy must be one of registry, inline, buildah; got 'Registry'"],
  ])('%j is refused: %s', (argv, message) => {
    const parsed = parseDoctorArgs(argv);
    expect(parsed.kind).toEqual('error');
    expect((parsed as { message: string }).message).toContain(message);
  });
});
