// nodeports.vmtest.ts's scenarios (NodePort ownership by its mark, a range other than kube-proxy's,
// addresses leaving the node, a user's services kept) with --ipvs-rules-backend=nftables.
process.env.KUBE_IPVS_E2E_RULES = 'nftables';
await import('./nodeports.vmtest.ts');
