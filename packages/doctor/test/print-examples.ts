/**
 * Prints what the doctor says about the healthy and the broken setups of fixtures.ts: the real CLI
 * entry point, ECR mocked. The README's example output comes from here (readme.test.ts checks that
 * it still matches):
 *
 *   npx projen examples
 */
import { ECRClient } from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import { FakeRegistry, brokenRegistry, healthyRegistry } from './fixtures';
import { EXAMPLE_ARGS, runCli, transcript } from './helpers';

async function show(title: string, registry: FakeRegistry): Promise<void> {
  const ecr = mockClient(ECRClient);
  const run = await runCli(ecr, registry, EXAMPLE_ARGS);
  ecr.restore();
  process.stdout.write(`===== ${title}\n${transcript(EXAMPLE_ARGS, run)}\n`);
}

async function printExamples(): Promise<void> {
  await show('healthy', healthyRegistry());
  await show('broken', brokenRegistry());
}

void printExamples();
