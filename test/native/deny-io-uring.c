/*
 * Runs a program with io_uring_setup refused (EPERM), as container runtimes' default seccomp
 * profiles do (Docker's and containerd's since 2023): `deny-io-uring <program> [args...]`.
 * For test/native/prober-http.test.ts: the prober must fall back to epoll then. A seccomp
 * filter, not the io_uring_disabled sysctl: that one is global to the machine.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: deny-io-uring <program> [args...]\n");
		return 2;
	}
	/* io_uring_setup is 425 on every architecture (the unified numbers of 5.1). */
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof f / sizeof f[0], .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		perror("deny-io-uring: seccomp");
		return 1;
	}
	execv(argv[1], argv + 1);
	perror("deny-io-uring: exec");
	return 127;
}
