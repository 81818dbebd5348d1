/*
 * kube-ipvs-prober: what the schedule and protocol (prober.c) share with the HTTP checks
 * (http.c). See prober.c for the protocol.
 */
#ifndef KUBE_IPVS_PROBER_H
#define KUBE_IPVS_PROBER_H

#include <stdint.h>

#define SLOT_BITS 16
#define MAX_TARGETS (1u << SLOT_BITS) /* the id is the slot */
#define MAX_PATH 1024                 /* an HTTP check's path, in bytes */

enum kind { KIND_TCP, KIND_HTTP };

struct http; /* an HTTP target's connection and answer so far (http.c) */

struct target {
	uint8_t family;   /* 0: free */
	uint8_t kind;     /* enum kind */
	uint8_t inflight; /* key is then the probe's deadline, else its next start */
	uint16_t gen;     /* bumped on every probe: answers to an older one miss */
	uint16_t port;    /* network order */
	uint8_t addr[16]; /* 4 bytes for IPv4 */
	uint32_t interval, timeout;
	uint16_t rise;    /* oks in a row to report; later ones are only counted */
	uint16_t streak;  /* oks in a row so far, up to rise */
	int heap_pos;
	uint64_t sent;
	uint32_t src;       /* TCP, IPv4: the source address the route gives (the checksum covers it) */
	uint64_t src_until; /* ... looked up again after this */
	struct http *http;  /* KIND_HTTP */
};

extern struct target targets[MAX_TARGETS];

/* prober.c */
void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A probe ended with `result` (NULL: nothing known of the endpoint); schedules the next. */
void finish(uint32_t id, const char *result, uint64_t now);

/* http.c */
int http_init(void);
/* How the HTTP checks do their I/O: "io_uring" or "epoll". */
const char *http_io(void);
/* The state of an HTTP target probing `path` (NULL when out of memory). */
struct http *http_new(const struct target *t, const char *path);
void http_free(struct http *h);
/* Starts a probe of an HTTP target (already marked in flight). */
void http_start(uint32_t id, uint64_t now);
/* The probe in flight timed out: its connection goes. */
void http_abort(struct http *h);
/* Whatever the connections have for us: answers, closes, connects that completed. */
void http_poll(uint64_t now);
/* The tick's requests go (io_uring: one submission for all; epoll: already sent). */
void http_flush(void);

#endif
