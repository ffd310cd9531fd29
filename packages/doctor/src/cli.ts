#!/usr/bin/env node
/**
 * `cdk-cached-image-build-doctor`: explains why the layer cache of a CachedImageBuild might not hit.
 */
import { ECRClient, ECRClientConfig } from '@aws-sdk/client-ecr';
import { PROGRAM, REGION_PATTERN, SYNOPSIS, USAGE, parseDoctorArgs } from './args';
import { DoctorAbort, classifyCallError } from './aws-errors';
import { runDoctor } from './checks';
import { renderHuman, renderJson, renderJsonAbort } from './render';
import { EXIT_COULD_NOT_CHECK, EXIT_HEALTHY, exitCodeOf, verdictOf } from './report';

/** How the ECR client is made: the CLI's options that reach the SDK. */
export interface ClientSettings {
  readonly region?: string;
  readonly profile?: string;
  /** Attempts per call, retried by the SDK with backoff (throttling included). */
  readonly maxAttempts: number;
}

/** Where the CLI writes and what it talks to; tests replace these. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly createClient?: (settings: ClientSettings) => ECRClient;
  readonly now?: () => Date;
}

/** The CLI's ECR client: the SDK's standard retry mode (backoff, throttling included). `extra` is for tests. */
export function createEcrClient(settings: ClientSettings, extra: ECRClientConfig = {}): ECRClient {
  return new ECRClient({
    region: settings.region,
    profile: settings.profile,
    maxAttempts: settings.maxAttempts,
    retryMode: 'standard',
    ...extra,
  });
}

const PROCESS_IO: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/** Runs the CLI with `argv` (the arguments after the program name); resolves to the exit code. */
export async function main(argv: readonly string[], io: CliIo = PROCESS_IO): Promise<number> {
  const parsed = parseDoctorArgs(argv);
  if (parsed.kind === 'help') {
    io.stdout(`${USAGE}\n`);
    return EXIT_HEALTHY;
  }
  if (parsed.kind === 'error') {
    io.stderr(`${PROGRAM}: ${parsed.message}\n${SYNOPSIS}\nRun '${PROGRAM} --help' for the options.\n`);
    return EXIT_COULD_NOT_CHECK;
  }
  const options = parsed.options;
  try {
    const client = (io.createClient ?? createEcrClient)({
      region: options.region,
      profile: options.profile,
      maxAttempts: options.maxAttempts,
    });
    let region: string;
    try {
      region = await client.config.region();
    } catch (e) {
      // Throws DoctorAbort for "Region is missing"; anything else is unexpected here.
      classifyCallError(e, 'resolving the region', options.region ?? 'unknown');
      throw e;
    }
    if (!REGION_PATTERN.test(region)) {
      throw new DoctorAbort(`the configured region '${region}' is not an AWS region name (like us-east-1); pass --region`);
    }
    const report = await runDoctor(client, options, region, io.now ? io.now() : new Date());
    io.stdout(options.json ? renderJson(report) : renderHuman(report));
    return exitCodeOf(verdictOf(report.checks));
  } catch (e) {
    const message = e instanceof DoctorAbort
      ? e.message
      : `unexpected error: ${(e as Error)?.stack ?? String(e)}`;
    io.stderr(`${PROGRAM}: could not check: ${message}\n`);
    if (options.json) io.stdout(renderJsonAbort(message, EXIT_COULD_NOT_CHECK));
    return EXIT_COULD_NOT_CHECK;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
