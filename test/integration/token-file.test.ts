// kubeadm's kube-proxy kubeconfig authenticates with `tokenFile:` (the projected service-account
// token, rotated by the kubelet). Against the test API server requiring a bearer token: the token
// is read from the file, and read again after it rotates. (The test API server speaks http only:
// kubeadm's `certificate-authority` + https is not exercised here.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { loadKubeConfigFile } from '../../src/cli/token-file.ts';
import { node } from '../support/apiserver/builders.ts';
import { start } from '../support/apiserver/index.ts';

/** kubeadm's kubeconfig.conf (cmd/kubeadm/app/phases/addons/proxy/manifests.go), pointed at the test server. */
function kubeadmKubeconfig(dir: string, server: string, tokenFile: string): string {
  const path = join(dir, 'kubeconfig.conf');
  writeFileSync(path, [
    'apiVersion: v1', 'kind: Config', 'clusters:', '- cluster:', `    server: ${server}`, '    insecure-skip-tls-verify: true', '  name: default',
    'contexts:', '- context:', '    cluster: default', '    namespace: default', '    user: default', '  name: default',
    'current-context: default', 'users:', '- name: default', '  user:', `    tokenFile: ${tokenFile}`, '',
  ].join('\n'));
  return path;
}

const status = async (kc: KubeConfig): Promise<number> => {
  try {
    await kc.makeApiClient(CoreV1Api).listNode();
    return 200;
  } catch (e) {
    return (e as { code?: number }).code ?? -1;
  }
};

test('kubeconfig tokenFile: the token is sent, and the rotated one after the file changes', async () => {
  const api = await start({ token: 'first-token' });
  try {
    api.create(node('node-a'));
    const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-token-'));
    writeFileSync(join(dir, 'token'), 'first-token\n');
    // A relative tokenFile is relative to the kubeconfig's folder, as in client-go.
    const path = kubeadmKubeconfig(dir, api.url, 'token');
    const plain = new KubeConfig();
    plain.loadFromFile(path);
    assert.equal(await status(plain), 401, 'client-node alone ignores tokenFile');
    const kc = new KubeConfig();
    loadKubeConfigFile(kc, path);
    assert.equal(await status(kc), 200);
    api.setToken('second-token');
    assert.equal(await status(kc), 401, 'the old token is refused once the server rotated it');
    writeFileSync(join(dir, 'token'), 'second-token\n');
    assert.equal(await status(kc), 200, 'the rotated token is read again');
  } finally {
    await api.stop();
  }
});
