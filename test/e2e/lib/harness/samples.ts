/** The sample apps (Dockerfiles of test/e2e/sample-app with their step counts) and the scenarios, round by round, that build them. */

import { randomBytes } from 'crypto';

// ------------------------------------------------------------------ sample apps
export type SourceFile = 'app.txt' | 'requirements.txt';
export interface SampleApp {
  readonly dockerfile: string;
  /** What the built image prints when run: the app file by default. */
  readonly output?: (app: string) => string;
  /** Steps after FROM, as BuildKit and Buildah report them. */
  readonly steps: number;
  /** Steps of the final stage (after its FROM): their layers are in the pushed image. */
  readonly finalSteps: number;
  /** Steps whose inputs did not change when `changed` files changed (all stages). */
  unchanged(changed: SourceFile[]): number;
}
export const SINGLE: SampleApp = {
  dockerfile: 'Dockerfile',
  // WORKDIR, RUN slow, COPY requirements.txt, RUN deps, RUN configure, COPY app.txt
  steps: 6,
  finalSteps: 6,
  unchanged: (changed) => (changed.includes('requirements.txt') ? 2 : changed.includes('app.txt') ? 5 : 6),
};
export const MULTI: SampleApp = {
  dockerfile: 'Dockerfile.multistage',
  // build: WORKDIR, COPY requirements.txt, RUN slow, COPY app.txt, RUN compile; runtime: WORKDIR, COPY --from
  steps: 7,
  finalSteps: 2,
  unchanged: (changed) => (changed.includes('requirements.txt') ? 2 : changed.includes('app.txt') ? 4 : 7),
};

/** A random build secret for this run: the harness checks it is used and never stored or logged. */
export const SECRET = `e2e-${randomBytes(24).toString('hex')}`;
export const SECRET_APP: SampleApp = {
  dockerfile: 'Dockerfile.secret',
  output: () => String(SECRET.length),
  // WORKDIR, RUN with the secret mounted, COPY app.txt
  steps: 3,
  finalSteps: 3,
  unchanged: (changed) => (changed.includes('app.txt') ? 2 : 3),
};

// ------------------------------------------------------------------ scenarios
export interface Scenario {
  readonly round: number;
  readonly label: string;
  readonly branch: string;
  /** Files changed since the previous round. */
  readonly changed: SourceFile[];
  /** The cache holds nothing usable for this round. */
  readonly cold?: boolean;
  /** The cache repository is served read-only (writes refused). */
  readonly readonlyCache?: boolean;
  /** Empty the cache repository before the round. */
  readonly emptyCache?: boolean;
  /** A fault injected for the round. */
  readonly fault?: 'delete-cache-tag' | 'garbage-cache' | 'unreachable-cache' | 'concurrent';
  /** Webhook variables of the round, instead of a push of `branch` (pull requests, git tags). */
  readonly webhook?: Record<string, string>;
  /** The tag the build must push and export as IMAGE_TAG (default: the commit). */
  readonly imageTag?: string;
}

/**
 * Pull requests, git tags and a non-ASCII branch, after main's cache exists (issue 9): each builds
 * from main's cache; none may change main's cache or move `latest`; main's next build hits every
 * unchanged step.
 */
export const EVENT_SCENARIOS: Scenario[] = [
  {
    round: 18,
    label: 'pull request #123 from a fork\'s main, app changed',
    branch: 'pr-123',
    changed: ['app.txt'],
    imageTag: 'pr-123',
    webhook: { CODEBUILD_WEBHOOK_EVENT: 'PULL_REQUEST_CREATED', CODEBUILD_WEBHOOK_TRIGGER: 'pr/123', CODEBUILD_WEBHOOK_HEAD_REF: 'refs/heads/main', CODEBUILD_WEBHOOK_BASE_REF: 'refs/heads/main' },
  },
  { round: 19, label: 'app file changed on main (after the pull request)', branch: 'main', changed: ['app.txt'] },
  {
    round: 20,
    label: 'git tag v1.2.3, app changed',
    branch: 'v1.2.3',
    changed: ['app.txt'],
    imageTag: 'v1.2.3',
    webhook: { CODEBUILD_WEBHOOK_EVENT: 'PUSH', CODEBUILD_WEBHOOK_TRIGGER: 'tag/v1.2.3', CODEBUILD_WEBHOOK_HEAD_REF: 'refs/tags/v1.2.3' },
  },
  { round: 21, label: 'branch ブランチ (non-ASCII), app changed', branch: 'ブランチ', changed: ['app.txt'] },
  { round: 22, label: 'app file changed on main (after the tag and the branch)', branch: 'main', changed: ['app.txt'] },
];

export const SCENARIOS: Scenario[] = [
  { round: 1, label: 'cold build', branch: 'main', changed: [], cold: true },
  { round: 2, label: 'app file changed', branch: 'main', changed: ['app.txt'] },
  { round: 3, label: 'app file changed', branch: 'main', changed: ['app.txt'] },
  { round: 4, label: 'app file changed', branch: 'main', changed: ['app.txt'] },
  { round: 5, label: 'app file changed', branch: 'main', changed: ['app.txt'] },
  { round: 6, label: 'dependency file changed', branch: 'main', changed: ['requirements.txt'] },
  { round: 7, label: 'app file changed', branch: 'main', changed: ['app.txt'] },
  { round: 8, label: 'new branch feature/login, app changed', branch: 'feature/login', changed: ['app.txt'] },
  { round: 9, label: 'cache repository emptied, app changed', branch: 'main', changed: ['app.txt'], cold: true, emptyCache: true },
  { round: 10, label: 'cache registry refuses writes, app changed', branch: 'main', changed: ['app.txt'], readonlyCache: true },
  { round: 11, label: 'app file changed (after the refused writes)', branch: 'main', changed: ['app.txt'] },
];
export const FIRST_FIVE = SCENARIOS.slice(0, 5);
/** Faults the default strategy must survive: the build succeeds, the image is pushed, nothing is lost. */
export const FAULTS: Scenario[] = [
  { round: 12, label: 'fault: default-branch cache manifest deleted', branch: 'main', changed: ['app.txt'], cold: true, fault: 'delete-cache-tag' },
  { round: 13, label: 'fault: cache manifest replaced by garbage', branch: 'main', changed: ['app.txt'], cold: true, fault: 'garbage-cache' },
  { round: 14, label: 'app file changed (after the garbage)', branch: 'main', changed: ['app.txt'] },
  { round: 15, label: 'fault: cache registry unreachable (import and export)', branch: 'main', changed: ['app.txt'], cold: true, fault: 'unreachable-cache' },
  { round: 16, label: 'fault: two builds of main at the same time', branch: 'main', changed: ['app.txt'], fault: 'concurrent' },
  { round: 17, label: 'app file changed (after the concurrent builds)', branch: 'main', changed: ['app.txt'] },
];
