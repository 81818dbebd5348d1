// Loaded with `node --import`: records the URL of every module the process loads (ES modules
// and require() alike, through a load hook) and writes them, one a line, to the file named by
// KUBE_IPVS_MODULE_LOG when the process exits. Hooks registered later run first, so a module
// another hook serves itself (cli/slim-client.ts) is not recorded: only what is really loaded.
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const urls: string[] = [];
registerHooks({
  load(url, context, next) {
    urls.push(url);
    return next(url, context);
  },
});
process.on('exit', () => { writeFileSync(process.env.KUBE_IPVS_MODULE_LOG ?? '/dev/null', urls.join('\n')); });
