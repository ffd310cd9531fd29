/**
 * Runs the doctor against the fake registry of fixtures.ts.
 */
import { ECRClient } from '@aws-sdk/client-ecr';
import { AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import {
  FakeRegistry,
  NOW,
  REGION,
  brokenRegistry,
  buildahRegistry,
  healthyRegistry,
  inlineRegistry,
  mixedRegistry,
  multiArchRegistry,
  serve,
} from './fixtures';
import { DoctorOptions, PROGRAM, parseDoctorArgs } from '../src/args';
import { runDoctor } from '../src/checks';
import { main } from '../src/cli';
import { CheckResult, DoctorReport } from '../src/report';

/** The mocked ECR client of a test file: reset before each test, restored after the file. */
export function mockedEcr(): AwsClientStub<ECRClient> {
  const ecr = mockClient(ECRClient);
  beforeEach(() => {
    ecr.reset();
  });
  afterAll(() => {
    ecr.restore();
  });
  return ecr;
}

export const BASE_ARGS = ['--repository', 'api', '--cache-repository', 'api-cache', '--region', REGION];

export function optionsFrom(args: string[]): DoctorOptions {
  const parsed = parseDoctorArgs(args);
  if (parsed.kind !== 'run') throw new Error(`bad test arguments: ${JSON.stringify(parsed)}`);
  return parsed.options;
}

/** A client that never reaches AWS: the mock answers (and credentials are fake, in case it did not). */
export function testClient(): ECRClient {
  return new ECRClient({ region: REGION, credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'not-a-secret' }, maxAttempts: 1 });
}

export async function doctor(mock: AwsClientStub<ECRClient>, registry: FakeRegistry, extraArgs: string[] = []): Promise<DoctorReport> {
  serve(mock, registry);
  return runDoctor(testClient(), optionsFrom([...BASE_ARGS, ...extraArgs]), REGION, NOW);
}

export function check(report: DoctorReport, id: string): CheckResult {
  const found = report.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check '${id}' in ${report.checks.map((c) => c.id).join(', ')}`);
  return found;
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real CLI entry point with the mocked client. */
export async function runCli(mock: AwsClientStub<ECRClient> | undefined, registry: FakeRegistry | undefined, args: string[]): Promise<CliRun> {
  if (mock && registry) serve(mock, registry);
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: (t) => { stdout += t; },
    stderr: (t) => { stderr += t; },
    createClient: (settings) => new ECRClient({
      region: settings.region,
      maxAttempts: settings.maxAttempts,
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'not-a-secret' },
    }),
    now: () => NOW,
  });
  return { code, stdout, stderr };
}

/** The example arguments of the README's example output. */
export const EXAMPLE_ARGS = ['--repository', 'api', '--cache-repository', 'api-cache', '--region', 'us-east-1', '--branch', 'feature/login'];

/** The README's example runs: a setup of fixtures.ts, and the arguments. */
export interface Example {
  readonly name: string;
  readonly registry: () => FakeRegistry;
  readonly args: string[];
}

export const EXAMPLES: Example[] = [
  { name: 'registry strategy, healthy', registry: healthyRegistry, args: EXAMPLE_ARGS },
  { name: 'registry strategy, broken', registry: brokenRegistry, args: EXAMPLE_ARGS },
  { name: 'inline strategy', registry: inlineRegistry, args: EXAMPLE_ARGS },
  { name: 'buildah strategy', registry: buildahRegistry, args: EXAMPLE_ARGS },
  { name: 'per-architecture scopes', registry: multiArchRegistry, args: [...EXAMPLE_ARGS.slice(0, 6), '--strategy', 'registry'] },
  { name: 'ambiguous contents', registry: mixedRegistry, args: EXAMPLE_ARGS.slice(0, 6) },
];

/** A run as a terminal shows it: the command, its output, its exit code (the README's example output). */
export function transcript(args: string[], run: CliRun): string {
  return `$ npx ${PROGRAM} ${args.join(' ')}\n${run.stdout}${run.stderr}$ echo $?\n${run.code}\n`;
}
