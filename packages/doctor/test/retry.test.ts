/**
 * Retries through the SDK's real middleware stack (no aws-sdk-client-mock here: it replaces
 * `send`, retries included), with a fake HTTP handler answering as ECR does.
 */
import { Readable } from 'stream';
import { DescribeRepositoriesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { ACCOUNT, NOW, REGION } from './fixtures';
import { BASE_ARGS, check, optionsFrom } from './helpers';
import { runDoctor } from '../src/checks';
import { createEcrClient } from '../src/cli';

describe('retries (the real SDK client, a fake HTTP handler)', () => {
  const throttledResponse = () => ({
    statusCode: 400,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'b5a1d0c4-0000-4000-8000-000000000001' },
    body: Readable.from([Buffer.from(JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }))]),
  });
  const repositoriesResponse = () => ({
    statusCode: 200,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'b5a1d0c4-0000-4000-8000-000000000002' },
    body: Readable.from([Buffer.from(JSON.stringify({
      repositories: [{
        repositoryArn: `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/api`,
        registryId: ACCOUNT,
        repositoryName: 'api',
        repositoryUri: `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/api`,
        createdAt: 1.762247647e9,
        imageTagMutability: 'MUTABLE',
        imageScanningConfiguration: { scanOnPush: false },
        encryptionConfiguration: { encryptionType: 'AES256' },
      }],
    }))]),
  });

  function clientAnswering(answers: Array<() => object>, maxAttempts: number): { client: ECRClient; calls: () => number } {
    let calls = 0;
    const client = createEcrClient({ region: REGION, maxAttempts }, {
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'not-a-secret' },
      requestHandler: {
        handle: async () => ({ response: answers[Math.min(calls++, answers.length - 1)]() }),
      } as any,
    });
    return { client, calls: () => calls };
  }

  test('a throttled call is retried and then succeeds', async () => {
    // GIVEN: ECR throttles the first attempt
    const { client, calls } = clientAnswering([throttledResponse, repositoriesResponse], 3);

    // WHEN
    const out = await client.send(new DescribeRepositoriesCommand({ repositoryNames: ['api'] }));

    // THEN
    expect(calls()).toEqual(2);
    expect(out.repositories?.[0].repositoryName).toEqual('api');
    expect(out.$metadata.attempts).toEqual(2);
  }, 20_000);

  test('a call throttled on every attempt gives up after maxAttempts, and the check says so', async () => {
    // GIVEN
    const { client, calls } = clientAnswering([throttledResponse], 2);

    // WHEN
    const report = await runDoctor(client, optionsFrom(BASE_ARGS), REGION, NOW);

    // THEN
    expect(check(report, 'app-repository')).toMatchObject({
      status: 'error',
      summary: 'could not check: ECR throttled ecr:DescribeRepositories after 2 attempts (ThrottlingException: Rate exceeded). ' +
        'Try again later, or allow more retries with --max-attempts.',
    });
    expect(calls()).toBeGreaterThanOrEqual(2);
  }, 60_000);

  test('the CLI client retries with the standard mode and --max-attempts', async () => {
    const client = createEcrClient({ region: REGION, maxAttempts: 7 });
    expect(await client.config.maxAttempts()).toEqual(7);
    expect(((await client.config.retryStrategy()) as { mode?: string }).mode).toEqual('standard');
  });
});
