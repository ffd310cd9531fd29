import { readFileSync } from 'fs';
import * as path from 'path';
import { EXAMPLES, mockedEcr, runCli, transcript } from './helpers';
import { USAGE } from '../src/args';

const ecr = mockedEcr();

/** The `text` code blocks of a `## ` section of the package's README. */
function textBlocks(heading: string): string[] {
  const readme = readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const section = readme.split(`\n## ${heading}\n`)[1]?.split('\n## ')[0];
  if (section === undefined) throw new Error(`README.md has no "## ${heading}" section`);
  return [...section.matchAll(/```text\n([\s\S]*?)```/g)].map((m) => m[1]);
}

describe('the README', () => {
  test('shows the --help text as the CLI prints it', async () => {
    const run = await runCli(undefined, undefined, ['--help']);
    expect(run.stdout).toEqual(`${USAGE}\n`);
    expect(textBlocks('Usage')).toEqual([run.stdout]);
  });

  test('example output is what the CLI prints for each example setup, in order', async () => {
    // WHEN
    const transcripts: string[] = [];
    for (const example of EXAMPLES) {
      ecr.reset();
      transcripts.push(transcript(example.args, await runCli(ecr, example.registry(), example.args)));
    }

    // THEN
    expect(textBlocks('Example output')).toEqual(transcripts);
  });

  test('each example is introduced by its name', () => {
    const readme = readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
    const section = readme.split('\n## Example output\n')[1].split('\n## ')[0];
    const intros = [...section.matchAll(/^### (.*)$/gm)].map((m) => m[1]);
    expect(intros).toEqual(EXAMPLES.map((e) => e.name[0].toUpperCase() + e.name.slice(1)));
  });
});
