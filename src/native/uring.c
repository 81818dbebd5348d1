/*
 * kube-ipvs-prober's io_uring: one submission queue for a tick's sends (and connects, and
 * receives armed once per connection), one completion queue read once per tick, with raw
 * system calls and the kernel's own header, so no library comes with the prober.
 *
 * Why: with epoll an HTTP probe costs a send() and a recv() of its own, and on a guest whose
 * system call entries are dear (a PVM guest spends a sixth of the prober's time there) that is
 * a fair part of a probe. Here a tick's sends go in one io_uring_enter, and each kept-alive
 * connection has one multishot receive armed for its whole life: an answer lands in a buffer
 * of a ring the kernel picks from (a provided-buffer ring), without a system call of ours.
 *
 * Deferred task running (IORING_SETUP_DEFER_TASKRUN): a completion does not wake the prober
 * (cooperative task running still would: its poll() woke up ~1,600 times a second); its work
 * waits for our io_uring_enter at the next tick, so 10,000 answers a second are still not
 * 10,000 wake-ups. That enter runs at most ~20 completions' work at a time (the kernel's
 * batch): it is called again while the kernel says more waits (IORING_SQ_TASKRUN).
 *
 * Optional: io_uring_setup is refused by container runtimes' default seccomp profiles, by
 * kernels with io_uring_disabled, and kernels before 6.1 lack what is used here (deferred task
 * running; multishot receive came in 6.0). uring_init then fails and the HTTP checks use epoll
 * (http.c), as before.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uring.h"

#define SQ_ENTRIES 4096
#define CQ_ENTRIES 16384
#define BUFS 1024 /* provided buffers: a tick's answers, ~100 at 10,000 probes a second */

static int ring = -1;
static unsigned sq_mask, sq_entries, cq_mask, cq_entries;
static unsigned *sq_khead, *sq_ktail, *sq_kflags, *cq_khead, *cq_ktail;
static unsigned sq_tail; /* ours: SQEs filled, published at submit */
static struct io_uring_sqe *sqes;
static struct io_uring_cqe *cqes;
static struct io_uring_buf_ring *br;
static uint16_t br_tail;
static char *bufs;

static int enter(unsigned to_submit, unsigned flags) {
	return (int)syscall(__NR_io_uring_enter, ring, to_submit, 0, flags, NULL, 0);
}

static void give_back(uint16_t bid) {
	br->bufs[br_tail & (BUFS - 1)] = (struct io_uring_buf){ .addr = (uint64_t)(uintptr_t)(bufs + (size_t)bid * URING_BUF_SIZE), .len = URING_BUF_SIZE, .bid = bid };
	br_tail++;
	__atomic_store_n(&br->tail, br_tail, __ATOMIC_RELEASE);
}

int uring_init(void) {
	struct io_uring_params p = { 0 };
	p.flags = IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
	p.cq_entries = CQ_ENTRIES;
	ring = (int)syscall(__NR_io_uring_setup, SQ_ENTRIES, &p);
	if (ring < 0) return -1;
	unsigned need = IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP | IORING_FEAT_FAST_POLL;
	if ((p.features & need) != need) goto fail;
	size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	size_t size = sq_size > cq_size ? sq_size : cq_size;
	char *rings = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
	if (rings == MAP_FAILED) goto fail;
	sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
	if (sqes == MAP_FAILED) goto fail;
	sq_khead = (unsigned *)(rings + p.sq_off.head);
	sq_ktail = (unsigned *)(rings + p.sq_off.tail);
	sq_kflags = (unsigned *)(rings + p.sq_off.flags);
	sq_mask = *(unsigned *)(rings + p.sq_off.ring_mask);
	sq_entries = p.sq_entries;
	unsigned *array = (unsigned *)(rings + p.sq_off.array);
	for (unsigned i = 0; i < sq_entries; i++) array[i] = i;
	sq_tail = *sq_ktail;
	cq_khead = (unsigned *)(rings + p.cq_off.head);
	cq_ktail = (unsigned *)(rings + p.cq_off.tail);
	cq_mask = *(unsigned *)(rings + p.cq_off.ring_mask);
	cq_entries = p.cq_entries;
	cqes = (struct io_uring_cqe *)(rings + p.cq_off.cqes);

	/* The receive buffers: untouched pages cost nothing, so the ring can be generous. */
	br = mmap(NULL, BUFS * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bufs = mmap(NULL, (size_t)BUFS * URING_BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (br == MAP_FAILED || bufs == MAP_FAILED) goto fail;
	struct io_uring_buf_reg reg = { .ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = BUFS, .bgid = URING_BGID };
	if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_PBUF_RING, &reg, 1) < 0) goto fail;
	for (uint16_t i = 0; i < BUFS; i++) give_back(i);
	return 0;
fail:
	/* The mappings stay (a few pages, once); the epoll path is used. */
	close(ring);
	ring = -1;
	return -1;
}

void uring_submit(void) {
	__atomic_store_n(sq_ktail, sq_tail, __ATOMIC_RELEASE);
	for (int tries = 0; tries < 4; tries++) {
		unsigned pending = sq_tail - __atomic_load_n(sq_khead, __ATOMIC_ACQUIRE);
		if (pending == 0) return;
		if (enter(pending, 0) < 0 && errno != EINTR && errno != EAGAIN && errno != EBUSY) return;
	}
}

struct io_uring_sqe *uring_sqe(void) {
	if (sq_tail - __atomic_load_n(sq_khead, __ATOMIC_ACQUIRE) >= sq_entries) {
		uring_submit();
		if (sq_tail - __atomic_load_n(sq_khead, __ATOMIC_ACQUIRE) >= sq_entries) return NULL;
	}
	struct io_uring_sqe *s = &sqes[sq_tail & sq_mask];
	memset(s, 0, sizeof *s);
	sq_tail++;
	return s;
}

/* The completions there are now. */
static unsigned reap_some(uring_fn fn) {
	unsigned n = 0;
	for (; n < cq_entries; n++) {
		unsigned head = *cq_khead;
		if (head == __atomic_load_n(cq_ktail, __ATOMIC_ACQUIRE)) return n;
		struct io_uring_cqe c = cqes[head & cq_mask];
		__atomic_store_n(cq_khead, head + 1, __ATOMIC_RELEASE);
		const char *buf = NULL;
		uint16_t bid = (uint16_t)(c.flags >> IORING_CQE_BUFFER_SHIFT);
		if (c.flags & IORING_CQE_F_BUFFER) buf = bufs + (size_t)bid * URING_BUF_SIZE;
		fn(c.user_data, c.res, c.flags, buf);
		if (buf != NULL) give_back(bid);
	}
	return n;
}

/* Completions that did not fit the queue wait in the kernel. */
static int overflowed(void) { return (__atomic_load_n(sq_kflags, __ATOMIC_ACQUIRE) & IORING_SQ_CQ_OVERFLOW) != 0; }

void uring_reap(uring_fn fn) {
	reap_some(fn);
	/* Each enter runs a batch of the completions' deferred work; again until one brings
	 * nothing (bounded: a busy tick leaves the rest to the next one). */
	for (int round = 0; round < 256; round++) {
		enter(0, IORING_ENTER_GETEVENTS);
		unsigned n = reap_some(fn);
		if (n == 0 && !overflowed()) return;
	}
}
