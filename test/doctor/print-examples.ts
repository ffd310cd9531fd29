/**
 * Prints what the doctor says about the healthy and the broken setups of fixtures.ts: the real CLI
 * entry point, ECR mocked. The README's example output comes from here:
 *
 *   npx ts-node --project test/tsconfig.json test/doctor/print-examples.ts
 */
import { ECRClient } from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import { brokenRegistry, healthyRegistry } from './fixtures';
import { runCli } from './helpers';

async function show(title: string, registry: ReturnType<typeof healthyRegistry>, args: string[]): Promise<void> {
  const ecr = mockClient(ECRClient);
  const run = await runCli(ecr, registry, args);
  ecr.restore();
  process.stdout.write(`===== ${title}\n$ npx cdk-cached-image-build ${args.join(' ')}\n${run.stdout}${run.stderr}$ echo $?\n${run.code}\n\n`);
}

async function printExamples(): Promise<void> {
  const args = ['doctor', '--repository', 'api', '--cache-repository', 'api-cache', '--region', 'us-east-1', '--branch', 'feature/login'];
  await show('healthy', healthyRegistry(), args);
  await show('broken', brokenRegistry(), args);
}

void printExamples();
