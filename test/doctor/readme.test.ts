import { readFileSync } from 'fs';
import * as path from 'path';
import { ECRClient } from '@aws-sdk/client-ecr';
import { mockClient } from 'aws-sdk-client-mock';
import { brokenRegistry, healthyRegistry } from './fixtures';
import { EXAMPLE_ARGS, runCli, transcript } from './helpers';

const ecr = mockClient(ECRClient);

beforeEach(() => {
  ecr.reset();
});

afterAll(() => {
  ecr.restore();
});

/** The `text` code blocks of the README's "Cache doctor" section. */
function readmeExamples(): string[] {
  const readme = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const section = readme.split('\n## Cache doctor\n')[1].split('\n## ')[0];
  return [...section.matchAll(/```text\n([\s\S]*?)```/g)].map((m) => m[1]);
}

describe('the README example output', () => {
  test('is what the CLI prints for the healthy and the broken setup', async () => {
    // WHEN
    const healthy = transcript(EXAMPLE_ARGS, await runCli(ecr, healthyRegistry(), EXAMPLE_ARGS));
    ecr.reset();
    const broken = transcript(EXAMPLE_ARGS, await runCli(ecr, brokenRegistry(), EXAMPLE_ARGS));

    // THEN
    expect(readmeExamples()).toEqual([healthy, broken]);
  });
});
