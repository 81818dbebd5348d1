// Multi-document YAML/JSON (or `kind: List`, as `kubectl get … -o yaml` prints) → the
// objects the proxy reads, each decoded on its own (decode.ts: wrongly typed fields become
// problems, never exceptions). Pure: the caller reads the files.
import { parseAllDocuments } from 'yaml';
import { decodeEndpointSlice, decodeNode, decodeService } from './decode.ts';
import { isRecord } from './field-reader.ts';
import type { EndpointSlice, Node, Service } from './objects.ts';

export interface Cluster {
  readonly services: readonly Service[];
  readonly endpointSlices: readonly EndpointSlice[];
  readonly nodes: readonly Node[];
}

export class ManifestSyntaxError extends Error {
  readonly code = 'MANIFEST_SYNTAX';
  readonly file: string;
  readonly line: number;
  readonly column: number;
  constructor(file: string, line: number, column: number, reason: string) {
    super(`${file}:${line}:${column}: ${reason}`);
    this.name = 'ManifestSyntaxError';
    this.file = file;
    this.line = line;
    this.column = column;
  }
}

function* flatten(value: unknown): Generator<Readonly<Record<string, unknown>>> {
  if (Array.isArray(value)) {
    for (const v of value) yield* flatten(v);
    return;
  }
  if (!isRecord(value)) return;
  if (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
    // `kind: List` items carry their own kind; typed lists (ServiceList) may omit it.
    const itemKind = value.kind === 'List' ? undefined : value.kind.slice(0, -'List'.length);
    for (const item of value.items) {
      if (isRecord(item) && itemKind !== undefined && item.kind === undefined) {
        yield { ...item, kind: itemKind };
      } else {
        yield* flatten(item);
      }
    }
    return;
  }
  yield value;
}

function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, offset));
  const line = before.split('\n').length;
  return { line, col: offset - before.lastIndexOf('\n') };
}

/** JSON gets JSON's own strictness (YAML would accept `{"a": }`); V8 names the position in most messages. */
function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const lc = /line (\d+) column (\d+)/.exec(msg);
    if (lc !== null) throw new ManifestSyntaxError(file, Number(lc[1]), Number(lc[2]), msg.replace(/ in JSON at .*/, ''));
    // `Unexpected token 'X', ..."context" is not valid JSON`: find the context to place the token.
    const m = /Unexpected token '(.)', (?:\.\.\.)?"(.*?)"(?:\.\.\.)? is not valid JSON/s.exec(msg);
    const at = m === null ? -1 : text.indexOf(m[2] ?? '');
    const pos = m === null || at < 0 ? { line: 1, col: 1 } : lineCol(text, at + (m[2] ?? '').lastIndexOf(m[1] ?? '') + 1);
    throw new ManifestSyntaxError(file, pos.line, pos.col, m === null ? msg : `unexpected token '${m[1] ?? ''}'`);
  }
}

function parseDocuments(text: string, file: string): unknown[] {
  if (/^\s*[[{]/.test(text)) return [parseJson(text, file)];
  return parseAllDocuments(text, { prettyErrors: true, uniqueKeys: false }).map((doc) => {
    const err = doc.errors[0];
    if (err !== undefined) {
      const pos = err.linePos?.[0] ?? { line: 1, col: 1 };
      throw new ManifestSyntaxError(file, pos.line, pos.col, (err.message.split('\n')[0] ?? err.code).replace(/ at line \d+, column \d+:?$/, ''));
    }
    return doc.toJS({ maxAliasCount: 1000 }) as unknown;
  });
}

/** Parses one file's text. Objects of other kinds (Pods, Deployments…) are ignored. */
export function parseManifests(text: string, file: string): Cluster {
  const services: Service[] = [];
  const endpointSlices: EndpointSlice[] = [];
  const nodes: Node[] = [];
  for (const doc of parseDocuments(text, file)) {
    for (const obj of flatten(doc)) {
      switch (obj.kind) {
        case 'Service': services.push(decodeService(obj)); break;
        case 'EndpointSlice': endpointSlices.push(decodeEndpointSlice(obj)); break;
        case 'Node': nodes.push(decodeNode(obj)); break;
        default: break;
      }
    }
  }
  return { services, endpointSlices, nodes };
}

export function mergeClusters(parts: readonly Cluster[]): Cluster {
  return {
    services: parts.flatMap((p) => p.services),
    endpointSlices: parts.flatMap((p) => p.endpointSlices),
    nodes: parts.flatMap((p) => p.nodes),
  };
}
