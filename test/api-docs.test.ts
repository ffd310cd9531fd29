import * as fs from 'fs';
import * as path from 'path';

// API.md is generated from the TSDoc by `npx projen docgen` (CI checks it is committed as
// generated), so what it says about an entry is what Construct Hub shows in every language.
const apiMd = fs.readFileSync(path.join(__dirname, '..', 'API.md'), 'utf8');

test('every public parameter, property and method in API.md has a description', () => {
  // GIVEN the generated API reference
  // WHEN we look for entries docgen could not describe
  const undocumented = apiMd.split('\n').filter((line) => line.includes('*No description.*'));

  // THEN there are none
  expect(undocumented).toEqual([]);
});

test.each(['CachedImageBuild', 'CacheStrategy', 'BuildxBuilder', 'ImageTag', 'PullRequestPolicy', 'BuildSecret'])(
  'the %s section of API.md carries an example (rosetta compiled it: post-compile runs `jsii-rosetta extract --strict --fail`)',
  (name) => {
    // GIVEN the section of the class in API.md
    const start = apiMd.indexOf(`### ${name} <a name="${name}"`);
    expect(start).toBeGreaterThanOrEqual(0);
    const end = apiMd.indexOf('\n### ', start + 1);
    const section = apiMd.slice(start, end === -1 ? undefined : end);

    // THEN it has a TypeScript example that uses the class
    expect(section).toMatch(new RegExp('```typescript\\n[\\s\\S]*' + name + '[\\s\\S]*?```'));
  },
);
