// --logging-format and --vmodule: klog-style text lines or JSON, a level per component.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, klogLine } from '../../src/cli/logger.ts';

test('text format: a pino record as klog prints a structured line', () => {
  const line = klogLine(JSON.stringify({ level: 40, time: Date.UTC(2026, 11, 4, 9, 5, 7, 123), pid: 42, component: 'proxier', msg: 'sync failed', err: 'exit 1', retryInMs: 500, ok: false }));
  assert.equal(line, 'W1204 09:05:07.123000      42 proxier] "sync failed" err="exit 1" retryInMs=500 ok=false\n');
});

function logged(o: Parameters<typeof createLogger>[0], write: (log: ReturnType<typeof createLogger>) => void): string {
  const file = join(mkdtempSync(join(tmpdir(), 'kube-ipvs-log-')), 'log');
  const fd = openSync(file, 'w');
  write(createLogger(o, fd));
  closeSync(fd);
  return readFileSync(file, 'utf8');
}

test('--vmodule raises one component\'s level; -v the others\'; json keeps structured lines', () => {
  const text = logged({ verbosity: 0, loggingFormat: 'text', vmodule: [{ pattern: 'prox*', level: 4 }] }, (log) => {
    log.child({ component: 'proxier' }).debug({ n: 1 }, 'proxier detail');
    log.child({ component: 'events' }).debug({}, 'events detail');
    log.child({ component: 'events' }).info({}, 'events info');
  });
  assert.match(text, /^I\d{4} [\d:.]+ +\d+ proxier\] "proxier detail" n=1$/m);
  assert.doesNotMatch(text, /events detail/);
  assert.match(text, /events\] "events info"/);
  const json = logged({ verbosity: 2, loggingFormat: 'json', vmodule: [] }, (log) => { log.child({ component: 'events' }).debug({ a: 'b' }, 'detail'); });
  assert.deepEqual(Object.entries(JSON.parse(json) as object).filter(([k]) => k !== 'time'), [['level', 20], ['name', 'kube-ipvs'], ['component', 'events'], ['a', 'b'], ['msg', 'detail']]);
});
