// The metrics endpoint kube-proxy serves on --metrics-bind-address (default 127.0.0.1:10249):
// /metrics, plus the two small routes tooling probes there: /healthz ("ok") and /proxyMode
// (`curl :10249/proxyMode` is the usual way to ask a node which proxy mode it runs), and
// /configz (the effective configuration as JSON, keyed by its API group, as kube-proxy's).
import type { Registry } from 'prom-client';
import type { RequestListener } from 'node:http';
import { listen, parseBindAddress, reply, type Listening } from './listen.ts';

const TEXT = { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' };

export function metricsHandler(registry: Registry, proxyMode = 'ipvs', configz?: () => object): RequestListener {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => { reply(res, 200, { 'Content-Type': registry.contentType }, text); },
        (err: unknown) => { reply(res, 500, TEXT, `error gathering metrics: ${String(err)}\n`); },
      );
    } else if (path === '/healthz') reply(res, 200, TEXT, 'ok');
    else if (path === '/proxyMode') reply(res, 200, TEXT, proxyMode);
    else if (path === '/configz' && configz !== undefined) reply(res, 200, { 'Content-Type': 'application/json' }, JSON.stringify(configz()));
    else reply(res, 404, TEXT, '404 page not found\n');
  };
}

/** Listens on `host:port`; rejects when the address cannot be bound. */
export function startMetricsServer(addr: string, registry: Registry, proxyMode = 'ipvs', configz?: () => object): Promise<Listening> {
  return listen(metricsHandler(registry, proxyMode, configz), parseBindAddress(addr));
}
