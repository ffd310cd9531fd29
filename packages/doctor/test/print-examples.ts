/**
 * Prints what the doctor says about the example setups of fixtures.ts: the real CLI entry point,
 * ECR mocked. The README's example output comes from here (readme.test.ts checks that it still
 * matches):
 *
 *   npx projen examples
 */
import { ECRClient } from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import { EXAMPLES, Example, runCli, transcript } from './helpers';

async function show(example: Example): Promise<void> {
  const ecr = mockClient(ECRClient);
  const run = await runCli(ecr, example.registry(), example.args);
  ecr.restore();
  process.stdout.write(`===== ${example.name}\n${transcript(example.args, run)}\n`);
}

async function printExamples(): Promise<void> {
  for (const example of EXAMPLES) await show(example);
}

void printExamples();
