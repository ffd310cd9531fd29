import { BuildScript } from './build-script';

/** The buildspec (version 0.2) for a build script: each phase aborts at its first failing command. */
export function toBuildSpecObject(script: BuildScript): Record<string, any> {
  const phases: Record<string, any> = {};
  for (const [name, commands] of Object.entries(script.phases)) {
    if (commands.length > 0) {
      phases[name] = { 'on-failure': 'ABORT', 'commands': commands };
    }
  }
  return {
    version: '0.2',
    env: { 'shell': 'bash', 'exported-variables': script.exportedVariables },
    phases,
    artifacts: { 'files': script.artifactFiles, 'discard-paths': 'yes' },
  };
}
