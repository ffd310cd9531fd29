import { command } from './fragments';

/** Project variable with the Docker Hub user name (resolved by CodeBuild from Secrets Manager). */
export const DOCKER_HUB_USERNAME_VARIABLE = 'CIB_DOCKER_HUB_USERNAME';

/** Project variable with the Docker Hub password or access token (resolved by CodeBuild from Secrets Manager). */
export const DOCKER_HUB_PASSWORD_VARIABLE = 'CIB_DOCKER_HUB_PASSWORD';

/** What a login to Docker Hub with `tool` runs: `docker login` (Docker Hub is its default registry) or `buildah login docker.io`. */
const LOGIN = {
  docker: 'docker login --username "$CIB_DOCKER_HUB_USERNAME" --password-stdin',
  buildah: 'buildah login --username "$CIB_DOCKER_HUB_USERNAME" --password-stdin docker.io',
} as const;

/**
 * Logs in to Docker Hub with the user name and password of the project variables: the password on
 * stdin only (never on a command line, never echoed); a refused login fails the build and says
 * where the credentials come from.
 */
export function dockerHubLoginCommand(tool: string): string {
  const login = LOGIN[tool as keyof typeof LOGIN];
  if (login === undefined) {
    throw new Error(`no Docker Hub login for the tool '${tool}'`);
  }
  return command(
    `set -o pipefail; printf '%s' "$CIB_DOCKER_HUB_PASSWORD" | ${login}`,
    '|| { echo "error: the Docker Hub login failed (above). Check the user name and password (or access token) fields',
    'of the dockerHubLogin secret" >&2; false; }',
  );
}
