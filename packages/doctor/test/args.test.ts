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
        recentImages: 20,
        maxAttempts: 5,
        json: false,
      },
    });
  });

  test('every option', () => {
    const parsed = parseDoctorArgs([
      ...REQUIRED, '--region', 'eu-west-2', '--branch', 'refs/heads/feature/Login page', '--default-branch', 'trunk',
      '--profile', 'dev', '--recent-images', '100', '--max-attempts', '8', '--json',
    ]);
    expect(parsed).toMatchObject({
      kind: 'run',
      options: {
        region: 'eu-west-2',
        branch: 'refs/heads/feature/Login page',
        branchTag: 'feature-Login-page',
        defaultBranch: 'trunk',
        defaultBranchTag: 'trunk',
        profile: 'dev',
        recentImages: 100,
        maxAttempts: 8,
        json: true,
      },
    });
  });

  test.each([
    ['linux/arm64', 'main-arm64', 'feature-x-arm64'],
    ['linux/amd64', 'main-amd64', 'feature-x-amd64'],
  ])('--platform %s: the cache tags of that architecture of a multi-architecture build', (platform, defaultTag, branchTag) => {
    expect(parseDoctorArgs([...REQUIRED, '--platform', platform, '--branch', 'feature/x'])).toMatchObject({
      kind: 'run', options: { platform, defaultBranchTag: defaultTag, branchTag },
    });
  });

  test('--platform must be one of the two architectures', () => {
    expect(parseDoctorArgs([...REQUIRED, '--platform', 'linux/riscv64']))
      .toEqual({ kind: 'error', message: "--platform must be linux/amd64 or linux/arm64; got 'linux/riscv64'" });
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
  ])('%j is refused: %s', (argv, message) => {
    const parsed = parseDoctorArgs(argv);
    expect(parsed.kind).toEqual('error');
    expect((parsed as { message: string }).message).toContain(message);
  });
});
