// e2e-traffic.vmtest.ts's scenarios (masquerade and hairpin, NodePort, LoadBalancer source
// ranges, externalTrafficPolicy Local, host-service protection…) with --ipvs-rules-backend=nftables.
process.env.KUBE_IPVS_E2E_RULES = 'nftables';
await import('./e2e-traffic.vmtest.ts');
