// A kubeconfig pointing at the test server. client-node 2.x refuses http:// servers unless the
// cluster sets insecure-skip-tls-verify (DESIGN §8), and it skips TLS/auth setup without a user.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export async function writeKubeconfig(path: string, url: string, token: string | undefined): Promise<void> {
  const user = token === undefined ? '{}' : `\n    token: ${JSON.stringify(token)}`;
  const text = `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: ${url}
    insecure-skip-tls-verify: true
users:
- name: test
  user: ${user}
contexts:
- name: test
  context:
    cluster: test
    user: test
    namespace: default
current-context: test
`;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text, { mode: 0o600 });
}
