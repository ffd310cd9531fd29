/**
 * The harness's ECR: the ECR proxy (ecr-proxy.ts) as a process of its own in front of the local
 * registry, and the `aws` stand-in (aws-stand-in.ts) on the builds' PATH. The proxy must not run
 * inside the harness: the harness blocks its event loop in spawnSync (docker run, env.sh), and a
 * pull through an in-process proxy would then wait for itself.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { EcrProxyConfig, validateConfig } from './ecr-proxy';
import { writeNodeScript } from './standalone';

/**
 * Installs `aws` into binDir: a bash front that records every call in $E2E_AWS_CALLS, answers
 * `ecr get-login-password` and `cloudwatch put-metric-data` at once (no Node start-up, the calls
 * every build makes), and hands every other `ecr` call to aws-stand-in.js.
 */
export function installAwsStandIn(binDir: string): void {
  fs.mkdirSync(binDir, { recursive: true });
  const script = path.join(binDir, 'aws-stand-in.js');
  writeNodeScript(path.join(__dirname, 'aws-stand-in.ts'), script);
  fs.writeFileSync(path.join(binDir, 'aws'), [
    '#!/bin/bash',
    '# AWS CLI stand-in of the e2e harness (test/e2e/lib/ecr-env.ts, aws-stand-in.ts)',
    'printf "%s\\n" "$*" >> "${E2E_AWS_CALLS:-/dev/null}"',
    'if [ "$1" = ecr ] && [ "$2" = get-login-password ]; then echo e2e-stand-in-password; exit 0; fi',
    'if [ "$1" = cloudwatch ] && [ "$2" = put-metric-data ]; then printf "%s\\n" "$*" >> "${E2E_METRICS:-/dev/null}"; exit 0; fi',
    `if [ "$1" = ecr ]; then exec ${JSON.stringify(process.execPath)} ${JSON.stringify(script)} "$@"; fi`,
    'echo "aws stand-in: unsupported command: $*" >&2; exit 2',
    '',
  ].join('\n'), { mode: 0o755 });
}

export interface EcrProxyProcess {
  readonly address: string;
  stop(): void;
}

/**
 * Writes the repositories' configuration and starts the proxy on `listen` in front of
 * `upstream`; resolves when it answers. The process ends with stop(), or by itself when this
 * process is gone.
 */
export async function startEcrProxyProcess(options: {
  readonly listen: string;
  readonly upstream: string;
  readonly config: EcrProxyConfig;
  /** Directory for the script, the configuration file and the log. */
  readonly dir: string;
}): Promise<EcrProxyProcess> {
  fs.mkdirSync(options.dir, { recursive: true });
  const script = path.join(options.dir, 'ecr-proxy.js');
  const configFile = path.join(options.dir, 'ecr-repositories.json');
  const logFile = path.join(options.dir, 'ecr-proxy.log');
  writeNodeScript(path.join(__dirname, 'ecr-proxy.ts'), script);
  fs.writeFileSync(configFile, `${JSON.stringify(validateConfig(options.config), null, 2)}\n`);
  const logFd = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [script, '--listen', options.listen, '--upstream', options.upstream, '--config', configFile, '--parent-pid', String(process.pid)],
    { stdio: ['ignore', logFd, logFd], detached: true });
  fs.closeSync(logFd);
  child.unref();
  const pid = child.pid!;
  const stop = () => { try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ } };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    try {
      const r = await fetch(`http://${options.listen}/v2/`);
      if (r.ok) return { address: options.listen, stop };
    } catch { /* not up yet */ }
    await new Promise((res) => setTimeout(res, 100));
  }
  stop();
  throw new Error(`the ECR proxy on ${options.listen} did not start (see ${logFile}): ${fs.readFileSync(logFile, 'utf8').trim().split('\n').slice(-3).join(' | ')}`);
}
