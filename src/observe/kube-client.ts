// The parts of @kubernetes/client-node the daemon runs, each from its own module: the package
// root re-exports the generated API (868 modules loaded, ~0.5 s and ~45 MiB of start-up) that the
// daemon never calls. cli/slim-client.ts keeps KubeConfig's and ListWatch's modules from loading
// it too. Types may still come from the package root: they cost nothing at run time.
export { KubeConfig } from '@kubernetes/client-node/dist/config.js';
export { ListWatch } from '@kubernetes/client-node/dist/cache.js';
export { Watch } from '@kubernetes/client-node/dist/watch.js';
export { HttpMethod, IsomorphicFetchHttpLibrary, RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
export { V1MicroTime } from '@kubernetes/client-node/dist/types.js';
