// A small conntrack table that tests seed, and `conntrack -D` over it as conntrack-tools
// 1.4.7 reports (test/fixtures/tools/conntrack-delete-*.txt): exit 1 when nothing matched.
import { parseIp } from '../../src/compute/net/ip.ts';
import { fail, ok, type Outcome } from './tool.ts';

export interface FakeFlow {
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  readonly origSrc: string;
  /** The address the client sent to (a VIP). */
  readonly origDst: string;
  readonly origDport: number;
  /** The real server the flow was NATed to; equal to origDst when not NATed. */
  readonly natDst: string;
}

const TAG = 'conntrack v1.4.7 (conntrack-tools)';

export class FakeConntrack {
  flows: FakeFlow[] = [];

  run(args: readonly string[]): Outcome {
    if (args[0] !== '-D') return fail(`${TAG}: only -D is faked\n`, 2);
    const opt = (o: string): string | undefined => { const i = args.indexOf(o); return i < 0 ? undefined : args[i + 1]; };
    const family = opt('-f') === 'ipv6' ? 6 : 4;
    for (const o of ['--orig-dst', '--dst-nat', '--reply-src']) {
      const v = opt(o);
      // Without `-f ipv6` conntrack reads every address as IPv4.
      if (v !== undefined && parseIp(v)?.family !== family) return fail(`${TAG}: Bad parameter \`${o}'\n`, 2);
    }
    const canon = (s: string | undefined): string | undefined => (s === undefined ? undefined : parseIp(s)?.text);
    const proto = opt('-p');
    const origDst = canon(opt('--orig-dst'));
    const natDst = canon(opt('--dst-nat'));
    const replySrc = canon(opt('--reply-src'));
    const dport = opt('--dport') ?? opt('--orig-port-dst');
    const matches = (f: FakeFlow): boolean =>
      (parseIp(f.origDst)?.family ?? 4) === family &&
      (proto === undefined || f.protocol === proto) &&
      (origDst === undefined || canon(f.origDst) === origDst) &&
      (natDst === undefined || (f.natDst !== f.origDst && canon(f.natDst) === natDst)) &&
      (replySrc === undefined || canon(f.natDst) === replySrc) &&
      (dport === undefined || f.origDport === Number(dport));
    const before = this.flows.length;
    this.flows = this.flows.filter((f) => !matches(f));
    const n = before - this.flows.length;
    const msg = `${TAG}: ${n} flow ${n === 1 ? 'entry has' : 'entries have'} been deleted.\n`;
    return n === 0 ? fail(msg, 1) : ok('', msg);
  }
}
