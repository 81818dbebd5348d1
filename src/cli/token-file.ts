// kubeconfig `tokenFile:` as client-go reads it (kubeadm's kube-proxy kubeconfig.conf uses it
// for the projected service-account token). @kubernetes/client-node 2.0.1 ignores the key (it
// knows only a non-standard `token-file`, read once at load), so requests went out without a
// token. Each request reads the file again when it changed: the kubelet rotates the projected
// token, and a token read once stops working when it expires (client-go re-reads it too).
// Reading a small file per request is cheap here: the daemon's requests are a few lists, long
// watches and the odd Event.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';
import type { KubeConfig, User } from '@kubernetes/client-node';

const PROVIDER = 'kube-ipvs-token-file';

/** client-node's authenticator interface (not exported as a type): bearer token from a file. */
export class TokenFileAuth {
  readonly #last = new Map<string, string>();

  isAuthProvider(user: User): boolean {
    return (user.authProvider as { name?: unknown } | undefined)?.name === PROVIDER;
  }

  /** The file's token now; while it cannot be read (mid-rotation), the last one read. */
  token(path: string): string | undefined {
    try {
      const token = readFileSync(path, 'utf8').trim();
      this.#last.set(path, token);
      return token;
    } catch {
      return this.#last.get(path);
    }
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- client-node awaits this
  async applyAuthentication(user: User, opts: { headers?: Record<string, string> }): Promise<void> {
    const path = (user.authProvider as { config?: { path?: unknown } } | undefined)?.config?.path;
    const token = typeof path === 'string' ? this.token(path) : undefined;
    if (token !== undefined && token !== '') (opts.headers ??= {}).Authorization = `Bearer ${token}`;
  }
}

/** `users[].user.tokenFile` of a kubeconfig text, by user name; relative paths are the file's. */
export function tokenFiles(text: string, kubeconfigPath: string): Map<string, string> {
  const out = new Map<string, string>();
  const doc = parse(text) as { users?: readonly { name?: unknown; user?: { tokenFile?: unknown; token?: unknown } }[] } | null;
  for (const u of doc?.users ?? []) {
    const file = u.user?.tokenFile;
    // As client-go: a token given inline wins over the file.
    if (typeof u.name !== 'string' || typeof file !== 'string' || file === '' || typeof u.user?.token === 'string') continue;
    out.set(u.name, isAbsolute(file) ? file : join(dirname(kubeconfigPath), file));
  }
  return out;
}

/** Loads a kubeconfig file into `kc` with its users' `tokenFile` honoured and re-read as it rotates. */
export function loadKubeConfigFile(kc: KubeConfig, path: string): void {
  kc.loadFromFile(path);
  const files = tokenFiles(readFileSync(path, 'utf8'), path);
  if (files.size === 0) return;
  kc.addAuthenticator(new TokenFileAuth());
  kc.users = kc.users.map((u) => {
    const file = files.get(u.name);
    return file === undefined ? u : { ...u, authProvider: { name: PROVIDER, config: { path: file } } };
  });
}
