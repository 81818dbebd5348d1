// e2e-detect-local.vmtest.ts's scenarios (which clients are masqueraded, per --detect-local-mode)
// with --ipvs-rules-backend=nftables.
process.env.KUBE_IPVS_E2E_RULES = 'nftables';
await import('./e2e-detect-local.vmtest.ts');
