// What the daemon cannot run without, said once: what failed and what to do about it. The
// entry point logs its message and exits non-zero; a DaemonSet then restarts the pod and
// `kubectl logs --previous` shows the reason, instead of a pod that runs and programs nothing.
import { moduleHint, ToolError } from './apply/exec.ts';

export type StartupErrorCode = 'STARTUP_KERNEL' | 'STARTUP_LISTEN' | 'STARTUP_OTHER';

export class StartupError extends Error {
  override readonly name = 'StartupError';
  readonly code: StartupErrorCode;
  /** What to do, e.g. "load ip_vs: modprobe ip_vs". */
  readonly hint: string | undefined;

  constructor(code: StartupErrorCode, message: string, hint: string | undefined, cause: unknown) {
    super(hint === undefined ? message : `${message}; ${hint}`, { cause });
    this.code = code;
    this.hint = hint;
  }
}

const errnoOf = (e: unknown): string | undefined =>
  e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' ? (e as NodeJS.ErrnoException).code : undefined;

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A sysctl that does not exist: its module is not loaded (the IPVS ones come with ip_vs). */
function sysctlHint(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  if (path.includes('/net/ipv4/vs/')) return 'the ip_vs kernel module is not loaded: load ip_vs (modprobe ip_vs) on the node, or mount /lib/modules so kube-ipvs can';
  if (path.includes('/net/ipv4/') || path.includes('/net/ipv6/')) return 'is /proc/sys mounted read-write (privileged container, hostNetwork)?';
  return undefined;
}

/** The kernel settings every sync relies on could not be read or written. */
export function startupError(step: string, e: unknown): StartupError {
  if (e instanceof StartupError) return e;
  const errno = errnoOf(e);
  const path = e instanceof Error ? (e as NodeJS.ErrnoException).path : undefined;
  if (errno === 'ENOENT' && path !== undefined) {
    return new StartupError('STARTUP_KERNEL', `${step}: ${path} does not exist`, sysctlHint(path), e);
  }
  if (errno === 'EACCES' || errno === 'EROFS' || errno === 'EPERM') {
    return new StartupError('STARTUP_KERNEL', `${step}: ${messageOf(e)}`, 'kube-ipvs needs a privileged container with hostNetwork to change kernel settings', e);
  }
  // A tool's own message already names its missing module (moduleHint) or package.
  const hint = e instanceof ToolError ? undefined : moduleHint(messageOf(e));
  return new StartupError('STARTUP_KERNEL', `${step}: ${messageOf(e)}`, hint, e);
}
