// Label and field selectors with the apiserver's grammar and matching rules
// (k8s.io/apimachinery/pkg/labels and pkg/fields). A parse error is a 400, as upstream.
import { ApiError } from './status.ts';
import type { KubeObject } from './types.ts';

export type Matcher = (obj: KubeObject) => boolean;

const KEY = String.raw`[A-Za-z0-9][-A-Za-z0-9_./]*`;
const VALUE = String.raw`[-A-Za-z0-9_.]*`;
const SET_RE = new RegExp(String.raw`^(${KEY})\s+(in|notin)\s+\(([^()]*)\)$`);
const EQ_RE = new RegExp(String.raw`^(${KEY})\s*(==|=|!=)\s*(${VALUE})$`);
const EXISTS_RE = new RegExp(String.raw`^(!?)\s*(${KEY})$`);

/** Splits on commas outside parentheses: `a in (x,y),b` → [`a in (x,y)`, `b`]. */
function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out.map((s) => s.trim());
}

type LabelTest = (labels: Readonly<Record<string, string>>) => boolean;

function labelRequirement(req: string): LabelTest {
  const set = SET_RE.exec(req);
  if (set !== null) {
    const [, key = '', op, list = ''] = set;
    const values = new Set(list.split(',').map((v) => v.trim()));
    // `notin` also matches objects without the label, as upstream.
    return op === 'in'
      ? (l) => l[key] !== undefined && values.has(l[key])
      : (l) => l[key] === undefined || !values.has(l[key]);
  }
  const eq = EQ_RE.exec(req);
  if (eq !== null) {
    const [, key = '', op, value] = eq;
    return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
  }
  const exists = EXISTS_RE.exec(req);
  if (exists !== null) {
    const [, bang, key = ''] = exists;
    return bang === '!' ? (l) => !(key in l) : (l) => key in l;
  }
  throw new ApiError(400, `unable to parse requirement: invalid label selector: "${req}"`);
}

export function parseLabelSelector(text: string | null): Matcher {
  if (text === null || text.trim() === '') return () => true;
  const tests = splitTopLevel(text).map(labelRequirement);
  return (obj) => {
    const labels = obj.metadata.labels ?? {};
    return tests.every((t) => t(labels));
  };
}

// Field selectors: only the fields every resource supports upstream.
const FIELDS: Readonly<Record<string, (obj: KubeObject) => string>> = {
  'metadata.name': (o) => o.metadata.name ?? '',
  'metadata.namespace': (o) => o.metadata.namespace ?? '',
};

export function parseFieldSelector(text: string | null): Matcher {
  if (text === null || text.trim() === '') return () => true;
  const tests = text.split(',').map((req): Matcher => {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(req.trim());
    if (m === null) throw new ApiError(400, `invalid field selector: "${req}"`);
    const [, field = '', op, value] = m;
    const get = FIELDS[field];
    if (get === undefined) throw new ApiError(400, `field label not supported: ${field}`);
    return op === '!=' ? (o) => get(o) !== value : (o) => get(o) === value;
  });
  return (obj) => tests.every((t) => t(obj));
}

/** Everything a list or watch request filters on: its namespace and both selectors. */
export function requestMatcher(namespace: string | undefined, query: URLSearchParams): Matcher {
  const labels = parseLabelSelector(query.get('labelSelector'));
  const fields = parseFieldSelector(query.get('fieldSelector'));
  return (o) => (namespace === undefined || o.metadata.namespace === namespace) && labels(o) && fields(o);
}
