/**
 * Registry credentials from a docker config file, the content of a kubernetes.io/dockerconfigjson
 * Secret ({"auths": {"<registry>": {"auth": base64("user:pass")} | {"username", "password"}}}).
 * Keys are matched the way docker does: host[:port], optionally with a scheme and a path
 * ("https://index.docker.io/v1/" for Docker Hub). identitytoken / registrytoken are not supported.
 */

export interface BasicCredentials {
  username: string;
  password: string;
}

/** The registry part of an "auths" key: "https://r.example:5000/v1/" → "r.example:5000". */
function keyHost(key: string): string {
  return key
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
}

const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/**
 * The credentials for `registry` in the parsed config, undefined when there are none, or an error
 * that never contains a credential.
 */
export function credentialsFor(config: unknown, registry: string): BasicCredentials | undefined | { error: string } {
  if (typeof config !== 'object' || config === null) return { error: 'the registry credentials file is not a JSON object' };
  const auths = (config as { auths?: unknown }).auths;
  if (auths === undefined) return undefined;
  if (typeof auths !== 'object' || auths === null) return { error: 'the registry credentials file\'s "auths" is not an object' };
  const wanted = registry.toLowerCase();
  const hub = DOCKER_HUB.has(wanted);
  const entry = Object.entries(auths).find(([key]) => {
    const h = keyHost(key);
    return h === wanted || (hub && DOCKER_HUB.has(h));
  });
  if (!entry) return undefined;
  const [key, value] = entry;
  if (typeof value !== 'object' || value === null) return { error: `the registry credentials for "${key}" are not an object` };
  const v = value as { auth?: unknown; username?: unknown; password?: unknown };
  if (typeof v.username === 'string' && typeof v.password === 'string') return { username: v.username, password: v.password };
  if (typeof v.auth === 'string') {
    const decoded = Buffer.from(v.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return { error: `the registry credentials for "${key}" have an "auth" that is not base64 of user:password` };
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return { error: `the registry credentials for "${key}" have neither "auth" nor "username" and "password"` };
}

export const basicHeader = (c: BasicCredentials): string => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
