/*
 * kube-ipvs-prober's io_uring (uring.c): a submission queue filled during a tick and submitted
 * once, a completion queue read once per tick, and a ring of receive buffers the kernel picks.
 */
#ifndef KUBE_IPVS_URING_H
#define KUBE_IPVS_URING_H

#include <linux/io_uring.h>
#include <stdint.h>

#define URING_BGID 0          /* the receive buffers' group (sqe->buf_group) */
#define URING_BUF_SIZE 4096   /* bytes of one receive buffer */

/* 0: in use; -1: no io_uring here (refused, disabled, or too old a kernel). */
int uring_init(void);
/* A zeroed SQE to fill, sent with the next uring_submit (NULL: the queue is full and the
 * kernel takes nothing more now). */
struct io_uring_sqe *uring_sqe(void);
void uring_submit(void);
/* A completion: `buf` holds a receive's `res` bytes (NULL when none), and is given back after. */
typedef void (*uring_fn)(uint64_t user_data, int32_t res, uint32_t flags, const char *buf);
/* Calls fn for every completion there is. */
void uring_reap(uring_fn fn);

#endif
