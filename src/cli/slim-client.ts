// @kubernetes/client-node without its generated API: KubeConfig's module (dist/config.js) imports
// two functions from the generated index (dist/gen/index.js), which imports every generated API
// and model module — 868 modules loaded, ~0.5 s of start-up and ~45 MiB of RSS here (docs/benchmarks.md)
// — and ListWatch's serializer imports every model for a string it passes through. The daemon
// uses none of them: it decodes objects itself (compute/k8s/decode.ts) and sends Events as plain
// JSON (observe/events.ts). A resolve hook gives those two importers, and only them, a module with
// exactly what they take (`SLIM`); every other import, and the library's own code, is unchanged.
// test/cli/slim-client.test.ts checks, against the installed client-node, that each importer
// takes nothing more, so an upgrade that needs more fails there, not on a node.
import { registerHooks } from 'node:module';

const DIST = '/@kubernetes/client-node/dist/';
const MARK = '?kube-ipvs-slim';

export interface SlimModule {
  /** client-node module (under dist/) whose import is redirected. */
  readonly importer: string;
  /** The specifier it imports, as written there. */
  readonly specifier: string;
  /** The names it takes from it: what `source` exports. */
  readonly names: readonly string[];
  /** Served in place of the specifier's module, at its URL (relative imports resolve beside it). */
  readonly source: string;
}

// ListWatch serializes its label and field selectors as 'string' (a primitive: passed through).
// Anything else goes to the real serializer, loaded then (require of an ES module: synchronous,
// as the callers expect). `REAL_STATICS` are its other static methods, forwarded the same way.
const PRIMITIVES = ['string', 'boolean', 'double', 'integer', 'long', 'float', 'number', 'any'];
export const SERIALIZER_STATICS = ['findCorrectType', 'serialize', 'deserialize', 'normalizeMediaType', 'getPreferredMediaType', 'stringify', 'parse'];
const serializerSource = `import { createRequire } from 'node:module';
const primitives = new Set(${JSON.stringify(PRIMITIVES)});
let real;
const full = () => (real ??= createRequire(import.meta.url)('./ObjectSerializer.js').ObjectSerializer);
const primitive = (data, type) => data == undefined || (typeof type === 'string' && primitives.has(type.toLowerCase()));
export class ObjectSerializer {
  static serialize(data, type, format) { return primitive(data, type) ? data : full().serialize(data, type, format); }
  static deserialize(data, type, format) { return primitive(data, type) ? data : full().deserialize(data, type, format); }
}
for (const k of ${JSON.stringify(SERIALIZER_STATICS.filter((k) => k !== 'serialize' && k !== 'deserialize'))}) {
  ObjectSerializer[k] = (...args) => full()[k](...args);
}
`;

export const SLIM: readonly SlimModule[] = [
  {
    importer: 'config.js',
    specifier: './gen/index.js',
    names: ['createConfiguration', 'ServerConfiguration'],
    source: "export { createConfiguration } from './configuration.js';\nexport { ServerConfiguration } from './servers.js';\n",
  },
  {
    importer: 'serializer.js',
    specifier: './gen/models/ObjectSerializer.js',
    names: ['ObjectSerializer'],
    source: serializerSource,
  },
];

let registered = false;

/**
 * Registers the hook for this process (once). Call before anything imports client-node: the
 * modules already loaded keep what they imported.
 */
export function slimClientNode(): void {
  if (registered) return;
  registered = true;
  const served = new Map<string, string>();
  registerHooks({
    resolve(specifier, context, next) {
      const r = next(specifier, context);
      const parent = context.parentURL ?? '';
      const slim = SLIM.find((s) => s.specifier === specifier && parent.endsWith(DIST + s.importer));
      if (slim === undefined) return r;
      const url = r.url + MARK;
      served.set(url, slim.source);
      return { ...r, url };
    },
    load(url, context, next) {
      const source = served.get(url);
      return source === undefined ? next(url, context) : { format: 'module', source, shortCircuit: true };
    },
  });
}
