/**
 * WWW-Authenticate challenges (RFC 9110 §11.6.1) as registries send them, e.g.
 *   Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"
 *   Basic realm="Registry Realm"
 * Only the auth-param form is read (token68 challenges are not used by registries).
 */

export interface Challenge {
  /** lowercased: "basic", "bearer" */
  scheme: string;
  /** parameter names lowercased, values unquoted */
  params: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;

/** Every challenge in the header value; unparseable tails are ignored (the challenges before them stay). */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const out: Challenge[] = [];
  let s = header;
  const skipSpace = () => {
    s = s.replace(/^[ \t]+/, '');
  };
  skipSpace();
  while (s.length > 0) {
    const scheme = TOKEN.exec(s)?.[0];
    if (!scheme) break;
    s = s.slice(scheme.length);
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    skipSpace();
    // auth-params: name = (token | quoted-string), separated by commas; a name not followed by "="
    // starts the next challenge
    for (;;) {
      const name = TOKEN.exec(s)?.[0];
      if (!name) break;
      const afterName = s.slice(name.length).replace(/^[ \t]*/, '');
      if (!afterName.startsWith('=')) break;
      s = afterName.slice(1).replace(/^[ \t]*/, '');
      let value: string;
      if (s.startsWith('"')) {
        let i = 1;
        value = '';
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        if (i >= s.length) return out; // unterminated quoted string
        s = s.slice(i + 1);
      } else {
        value = TOKEN.exec(s)?.[0] ?? '';
        s = s.slice(value.length);
      }
      challenge.params[name.toLowerCase()] = value;
      skipSpace();
      if (!s.startsWith(',')) break;
      s = s.slice(1).replace(/^[ \t,]*/, '');
    }
    skipSpace();
    if (s.startsWith(',')) s = s.slice(1).replace(/^[ \t,]*/, '');
  }
  return out;
}

/**
 * The token endpoint URL of a Bearer challenge (realm + service + scope), or an error. The scope
 * is the challenge's own when given, else pull on the repository. A realm in plain http is refused
 * when the registry is https: the credentials would be sent in clear text.
 */
export function tokenUrl(challenge: Challenge, repository: string, registryIsHttps: boolean): URL | { error: string } {
  const realm = challenge.params['realm'];
  if (!realm) return { error: 'the registry asked for a Bearer token without saying where to get it (no realm)' };
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    return { error: `the registry's token realm "${realm}" is not a URL` };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { error: `the registry's token realm "${realm}" is not http(s)` };
  if (registryIsHttps && url.protocol === 'http:') return { error: `refusing the registry's plain-http token realm "${realm}"` };
  const service = challenge.params['service'];
  if (service) url.searchParams.set('service', service);
  url.searchParams.set('scope', challenge.params['scope'] ?? `repository:${repository}:pull`);
  return url;
}
