import { awscdk, javascript } from 'projen';
import { UpdateSnapshot } from 'projen/lib/javascript';

/**
 * The lowest aws-cdk-lib that has every API this library uses. The newest one is
 * `ecr.TagMutability.IMMUTABLE_WITH_EXCLUSION` with `imageTagMutabilityExclusionFilters`
 * (first published in aws-cdk-lib 2.221.0). This is the only place the floor is written.
 */
const CDK_FLOOR = '2.221.0';
/** What contributors and CI build and test against: a recent aws-cdk-lib. */
const CDK_DEV = '2.276.0';

const project = new awscdk.AwsCdkConstructLibrary({
  name: 'cdk-cached-image-build',
  description:
    'A CDK construct that builds Docker images in AWS CodeBuild / CodePipeline and pushes them to Amazon ECR with a registry layer cache that hits on every rebuild.',
  author: 'cdk-cached-image-build maintainers',
  authorAddress: 'maintainers@cdk-cached-image-build.dev',
  repositoryUrl: 'https://github.com/cdk-cached-image-build/cdk-cached-image-build.git',
  defaultReleaseBranch: 'main',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  license: 'Apache-2.0',
  stability: 'experimental',

  cdkVersion: CDK_FLOOR,
  constructsVersion: '10.0.5',
  jsiiVersion: '~6.0.0',
  typescriptVersion: '~6.0',
  minNodeVersion: '20.0.0',
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
    'aws-sdk-client-mock@^4.1.0',
    'aws-sdk-client-mock-jest@^4.1.0',
    'cdk-nag@^3.0.2',
    'cdk-nag-v2@npm:cdk-nag@^2.38.2',
  ],

  // The cache doctor CLI (src/doctor/) talks to ECR. A jsii library may only depend on jsii
  // packages, so the AWS SDK client is bundled into the package instead.
  bundledDeps: ['@aws-sdk/client-ecr@^3.1169.0'],
  bin: { 'cdk-cached-image-build': 'lib/doctor/cli.js' },

  jestOptions: {
    // Snapshots are a gate: never rewrite them implicitly. `npm run test:update` does it on purpose.
    updateSnapshot: UpdateSnapshot.NEVER,
    jestConfig: {
      testPathIgnorePatterns: ['/node_modules/', '/test/e2e/'],
    },
  },
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

for (const pattern of ['/examples/', '/.ci/', '/cdk.out/', '/rosetta/', '/docs/']) {
  project.addPackageIgnore(pattern);
}

// Contributors and CI build against a recent aws-cdk-lib; users only need CDK_FLOOR (peer dependency).
project.addDevDeps(`aws-cdk-lib@${CDK_DEV}`, 'constructs@^10.0.5');

// The test command used by the README and CI: jest in CI mode (a changed snapshot fails), then eslint.
const testTask = project.tasks.tryFind('test')!;
testTask.reset('jest --ci', { receiveArgs: true });
testTask.spawn(project.tasks.tryFind('eslint')!);

// With UpdateSnapshot.NEVER projen adds `test:update`, which rewrites snapshots on purpose.

// Keep the library's functions short enough to read in one screen (the doctor CLI has its own package plan).
project.eslint?.addOverride({
  files: ['src/**/*.ts'],
  excludedFiles: ['src/doctor/**'],
  rules: { 'max-lines-per-function': ['error', { max: 90 }] },
});

project.addTask('example', {
  description: 'Synthesize the example app (no AWS credentials needed) and print where the templates are',
  exec: 'ts-node --project test/tsconfig.json examples/app.ts',
});

project.addTask('e2e', {
  description: 'Execute the synthesized buildspec for real against local Docker/BuildKit and a registry (root)',
  exec: 'bash test/e2e/run.sh',
  receiveArgs: true,
});

// README code snippets must compile in every jsii language.
project.postCompileTask.exec('jsii-rosetta extract --strict --fail');

// Added last: projen drops ignore patterns under a directory that is re-included earlier (`!/test/`).
project.gitignore.exclude('/test/e2e/out/');
// Real build logs captured by the e2e harness are test fixtures, despite the *.log rule.
project.gitignore.include('/test/fixtures/build-logs/*.log');

project.synth();
