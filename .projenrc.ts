import { awscdk, javascript, typescript } from 'projen';
import { UpdateSnapshot } from 'projen/lib/javascript';

/**
 * The lowest aws-cdk-lib that has every API this library uses. The newest one is
 * `ecr.TagMutability.IMMUTABLE_WITH_EXCLUSION` with `imageTagMutabilityExclusionFilters`
 * (first published in aws-cdk-lib 2.221.0). This is the only place the floor is written.
 */
const CDK_FLOOR = '2.221.0';
/** What contributors and CI build and test against: a recent aws-cdk-lib. */
const CDK_DEV = '2.276.0';

/**
 * The Node.js floor of both packages (`engines.node`), chosen on purpose (CONTRIBUTING.md, "Node.js
 * versions"): Node 20 is end of life, but it is what CI runs (20.20) and the floor of aws-cdk-lib
 * itself (`>= 20.0.0`) and of @aws-sdk/client-ecr; a higher floor would warn every Node 20 user
 * without the code needing anything newer. Raise it to 22 when CI moves to Node 22, at the latest
 * when the AWS SDK requires it (SDK versions published after the first week of January 2027).
 */
const NODE_FLOOR = '20.0.0';

const AUTHOR = 'cdk-cached-image-build maintainers';
const AUTHOR_ADDRESS = 'maintainers@cdk-cached-image-build.dev';
const REPOSITORY_URL = 'https://github.com/cdk-cached-image-build/cdk-cached-image-build.git';

const project = new awscdk.AwsCdkConstructLibrary({
  name: 'cdk-cached-image-build',
  description:
    'A CDK construct that builds Docker images in AWS CodeBuild / CodePipeline and pushes them to Amazon ECR with a registry layer cache that hits on every rebuild.',
  author: AUTHOR,
  authorAddress: AUTHOR_ADDRESS,
  repositoryUrl: REPOSITORY_URL,
  defaultReleaseBranch: 'main',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  license: 'Apache-2.0',
  stability: 'experimental',

  cdkVersion: CDK_FLOOR,
  constructsVersion: '10.0.5',
  jsiiVersion: '~6.0.0',
  typescriptVersion: '~6.0',
  minNodeVersion: NODE_FLOOR,
  // Dev installs do not pin the peer floor; see CDK_DEV below.
  peerDependencyOptions: { pinnedDevDependency: false },

  keywords: ['cdk', 'awscdk', 'aws-cdk', 'ecr', 'codebuild', 'codepipeline', 'docker', 'buildkit', 'cache'],

  // The lock file is committed so `npm ci` works on a fresh clone.
  // GitHub-specific automation is not used by this project (CI is `.ci/run`).
  github: false,
  release: false,
  depsUpgrade: false,
  pullRequestTemplate: false,

  devDeps: [
    'ts-node',
    'fast-check',
    'cdk-nag@^3.0.2',
    'cdk-nag-v2@npm:cdk-nag@^2.38.2',
  ],

  // No bin and no AWS SDK: the cache doctor CLI is its own package (packages/doctor, below).

  // `npm test` reports lint errors and changes no file; `npx projen eslint:fix` fixes what it can.
  eslintOptions: { dirs: ['src'], devdirs: ['test', 'build-tools', 'projenrc', '.projenrc.ts'], commandOptions: { fix: false } },

  jestOptions: {
    // Snapshots are a gate: never rewrite them implicitly. `npm run test:update` does it on purpose.
    updateSnapshot: UpdateSnapshot.NEVER,
    jestConfig: {
      testPathIgnorePatterns: ['/node_modules/', '/test/e2e/'],
    },
  },
  // The published JavaScript keeps its source maps (stack traces name src/*.ts lines) but not the
  // TypeScript sources inside them: they were two thirds of lib/ and reach every language's package.
  tsconfig: { compilerOptions: { inlineSourceMap: true, inlineSources: false } },
  tsconfigDev: {
    include: ['../examples/**/*.ts'],
    compilerOptions: {},
  },

  publishToPypi: { distName: 'cdk-cached-image-build', module: 'cdk_cached_image_build' },
  publishToMaven: {
    javaPackage: 'dev.cdkcachedimagebuild',
    mavenGroupId: 'dev.cdk-cached-image-build',
    mavenArtifactId: 'cdk-cached-image-build',
  },
  publishToNuget: { dotNetNamespace: 'CdkCachedImageBuild', packageId: 'CdkCachedImageBuild' },
  publishToGo: { moduleName: 'github.com/cdk-cached-image-build/cdk-cached-image-build-go' },

  gitignore: ['/cdk.out/', '/examples/cdk.out/', '.jsii.tabl.json', '/rosetta/*.tabl.json'],
});

for (const pattern of ['/examples/', '/.ci/', '/cdk.out/', '/rosetta/', '/docs/', '/packages/', '/build-tools/', '/CONTRIBUTING.md', '/SECURITY.md']) {
  project.addPackageIgnore(pattern);
}

// Contributors and CI build against a recent aws-cdk-lib; users only need CDK_FLOOR (peer dependency).
project.addDevDeps(`aws-cdk-lib@${CDK_DEV}`, 'constructs@^10.0.5');

// jsii warns (JSII6, metadata/missing-dev-dependency) that the dev dependencies should be the peer
// floors. They are a recent aws-cdk-lib on purpose (see CDK_DEV); the floor is type-checked and tested
// against by .ci/floor, a step of .ci/run, instead. Silence that one warning, keep every other.
const JSII_FLAGS = '--silence-warnings=reserved-word --silence-warnings=metadata/missing-dev-dependency';
project.compileTask.reset(`jsii ${JSII_FLAGS}`);
project.watchTask.reset(`jsii -w ${JSII_FLAGS}`);

// The test command used by the README and CI: jest in CI mode (a changed snapshot fails), then eslint.
const testTask = project.tasks.tryFind('test')!;
testTask.reset('jest --ci', { receiveArgs: true });
testTask.spawn(project.tasks.tryFind('eslint')!);

// With UpdateSnapshot.NEVER projen adds `test:update`, which rewrites snapshots on purpose.

// Keep the library's functions short enough to read in one screen, and its lines short enough to
// review (long shell commands are lists of parts joined by `command(...)`, src/script/fragments.ts).
project.eslint?.addOverride({
  files: ['src/**/*.ts'],
  rules: {
    'max-lines-per-function': ['error', { max: 90 }],
    'max-len': ['error', { code: 150, ignoreUrls: true }],
  },
});

// The one task that rewrites sources: eslint with --fix, run on purpose, never by `npm test`.
project.addTask('eslint:fix', { description: 'Fix what eslint can fix in the sources (npm test only reports)' })
  .spawn(project.eslint!.eslintTask, { args: ['--fix'], receiveArgs: true });
// build-tools/ has no tsconfig of its own.
project.eslint!.allowDefaultProjectFiles('build-tools/*.ts');

project.addTask('example', {
  description: 'Synthesize the example app (no AWS credentials needed) and print where the templates are',
  exec: 'ts-node --project test/tsconfig.json examples/app.ts',
});

project.addTask('e2e', {
  description: 'Execute the synthesized buildspec for real against local Docker/BuildKit and a registry (root)',
  exec: 'bash test/e2e/run.sh',
  receiveArgs: true,
});

project.addTask('bench', {
  description: 'Benchmark every cache configuration on generated apps of 50 MB to 1 GB and write docs/benchmarks.md (root; options: see test/e2e/bench.ts)',
  exec: 'bash test/e2e/bench.sh',
  receiveArgs: true,
});
project.addTask('bench:quick', {
  description: 'The benchmark\'s CI variant: a small app, every configuration, fails when a build fails (report in test/e2e/out/bench/)',
  exec: 'bash test/e2e/bench.sh --quick',
  receiveArgs: true,
});

// README code snippets must compile in every jsii language; so must those of docs/*.md, which jsii does not
// put in the assembly (build-tools/doc-snippets.ts hands them to rosetta the same way).
project.postCompileTask.exec('jsii-rosetta extract --strict --fail');
project.postCompileTask.exec('ts-node --project test/tsconfig.json build-tools/doc-snippets.ts docs/*.md');

// Added last: projen drops ignore patterns under a directory that is re-included earlier (`!/test/`).
project.gitignore.exclude('/test/e2e/out/');
// Real build logs captured by the e2e harness are test fixtures, despite the *.log rule.
project.gitignore.include('/test/fixtures/build-logs/*.log');

/**
 * The cache doctor: a plain TypeScript CLI package in packages/doctor, with its own package-lock,
 * tests and README. It depends on @aws-sdk/client-ecr; the construct package does not.
 */
const doctor = new typescript.TypeScriptProject({
  parent: project,
  outdir: 'packages/doctor',
  name: 'cdk-cached-image-build-doctor',
  description: 'Explains why the layer cache of a cdk-cached-image-build CachedImageBuild might not hit, by reading its ECR repositories.',
  authorName: AUTHOR,
  authorEmail: AUTHOR_ADDRESS,
  authorOrganization: false,
  repository: REPOSITORY_URL,
  repositoryDirectory: 'packages/doctor',
  license: 'Apache-2.0',
  keywords: ['cdk', 'ecr', 'codebuild', 'docker', 'buildkit', 'cache'],
  defaultReleaseBranch: 'main',
  packageManager: javascript.NodePackageManager.NPM,
  typescriptVersion: '~6.0',
  minNodeVersion: NODE_FLOOR,
  sampleCode: false,
  github: false,
  release: false,
  depsUpgrade: false,
  pullRequestTemplate: false,
  // Its own `npx projen <task>` in packages/doctor runs the tasks of .projen/tasks.json there.
  projenDevDependency: true,
  deps: ['@aws-sdk/client-ecr@^3.1169.0'],
  devDeps: ['aws-sdk-client-mock@^4.1.0', 'fast-check@^4.11.0', 'ts-node'],
  // A command, not a library: no index; `main` is the CLI entry point.
  bin: { 'cdk-cached-image-build-doctor': 'lib/cli.js' },
  entrypoint: 'lib/cli.js',
  entrypointTypes: 'lib/cli.d.ts',
  eslintOptions: { dirs: ['src'], devdirs: ['test'], commandOptions: { fix: false } },
  jestOptions: {
    updateSnapshot: UpdateSnapshot.NEVER,
  },
  // ts-jest only transpiles each file (fast, as in the construct's tests); the test task type-checks first.
  tsconfigDev: { compilerOptions: { isolatedModules: true } },
});
const doctorTest = doctor.tasks.tryFind('test')!;
// --skipLibCheck: @types/sinon (under aws-sdk-client-mock) does not match its own @sinonjs/fake-timers types.
doctorTest.reset('tsc --noEmit --skipLibCheck --project test/tsconfig.json');
doctorTest.exec('jest --ci', { receiveArgs: true });
// The SDK's Node 20 support warning (README, "Exit code and JSON") would repeat in every test file.
doctorTest.env('AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED', 'true');
doctorTest.spawn(doctor.tasks.tryFind('eslint')!);
doctor.addTask('eslint:fix', { description: 'Fix what eslint can fix in the sources (npm test only reports)' })
  .spawn(doctor.eslint!.eslintTask, { args: ['--fix'], receiveArgs: true });
doctor.addTask('examples', {
  description: "Print the README's example output (the CLI against the mocked ECR setups of the tests)",
  exec: 'ts-node --project test/tsconfig.json test/print-examples.ts',
});
doctor.addPackageIgnore('/test/');

project.synth();
