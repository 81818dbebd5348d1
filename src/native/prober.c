/*
 * kube-ipvs-prober: TCP health checks as half-open SYN probes, and HTTP checks on kept-alive
 * connections (http.c), for the daemon (src/observe/native-prober.ts). One long-lived child
 * process; the daemon keeps the thresholds, this process the schedule and the probes.
 *
 * Why not connect(): a full connect + reset costs ~50 us of CPU per probe (socket, three-way
 * handshake, reset, close, the event loop); 10,000 endpoints a second would take half a core.
 * A SYN on a raw socket costs one slot of a sendmmsg batch, the answer one slot of a recvmmsg
 * batch, and no socket per probe. keepalived's TCP_CHECK semantics are kept: SYN-ACK =
 * healthy; RST = failed at once; nothing within the timeout = failed.
 *
 * How: an ordinary TCP socket per family is bound to a free port and never listens, so no
 * local connection takes that port and the kernel answers every SYN-ACK to it with a RST (the
 * endpoint keeps no half-open connection). SYNs from that port go out on a raw socket; a
 * classic BPF filter on the raw socket passes only TCP to that port (a busy node's traffic is
 * not copied here). The sequence number carries the probe's slot and generation, and the
 * answer's ack (seq + 1) finds it again; its source address and port must match too.
 *
 * The schedule is here too (the daemon hands over each target once, not each probe): node's
 * share per probe is then one result line, not a timer, a promise and a request line.
 *
 * And in the steady state not even that: an ok that follows `rise` oks in a row changes nothing
 * in the daemon's checker (the endpoint is up, or came up at the rise-th, and its failure count
 * is already 0), so it is only counted here and reported as one total now and then ("n <count>",
 * for the checks-by-result metric). Every failure is reported, and so is every ok until the
 * streak reaches rise: a down endpoint sees the successThreshold oks it needs, and an endpoint
 * with a few failures sees the ok that resets them. The thresholds themselves stay in the daemon.
 *
 * Protocol (lines of ASCII; the daemon batches many per write, this process answers in
 * batches at most every TICK_MS):
 *   stdout, once:  "ready <port4> <port6> <kinds> <io>"   requests accepted; kinds "tcp,http",
 *                                             or "http" (and ports 0) when raw sockets are refused
 *                                             (no CAP_NET_RAW): then "a" lines are refused; io
 *                                             "io_uring" or "epoll": how the HTTP checks do their
 *                                             I/O (epoll when io_uring is refused, or when
 *                                             KUBE_IPVS_PROBER_IO=epoll); a reader of the first
 *                                             four fields (older daemons) is not affected
 *   stdin:         "a <id> <ip> <port> <interval_ms> <timeout_ms> <rise>"   probe this target
 *                  by TCP from now on (first at a random point of the interval, then every
 *                  interval +-5 %); id in [0, 65535], chosen by the daemon; an id in use is
 *                  replaced (its ok streak starts over); rise in [1, 65535]: the oks in a row
 *                  reported
 *                  "h <id> <ip> <port> <interval_ms> <timeout_ms> <rise> <path>"   the same by
 *                  HTTP GET <path> ("/" then printable ASCII, no spaces, at most MAX_PATH)
 *                  "d <id>"                    stop probing it; answered "d <id>" (after that
 *                                             line no result names the id: it may be reused)
 *   stdout:        "r <id> ok|refused|timeout|unreachable|failed"   one per probe, except an
 *                                             ok when the target's oks in a row already reached
 *                                             rise (failed: HTTP, a bad status, garbage, a reset)
 *                  "n <count>"                 oks not reported since the last "n": with other
 *                                             output, else once a second (none when none)
 *                  "e <why>: <the line>"      a malformed line; nothing else is affected
 *                  "e no socket for <id>: <why>"   an HTTP probe failed for want of a socket
 *                                             (descriptors or memory); once until one opens
 * Exit: 0 when stdin closes; 1 when it cannot start.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include "prober.h"

#define BATCH 256                    /* packets per sendmmsg / recvmmsg */
#define MAX_LINE (MAX_PATH + 100)
#define MAX_MS 300000
#define TICK_MS 10 /* probes start on a 10 ms grid and results wait at most that long: one
                    * wake-up, one sendmmsg and one write for all of a tick (as the daemon's
                    * in-process schedule, which used 10 ms slots) */
#define SRC_TTL_MS 10000
#define QUIET_MS 1000 /* the oks only counted: reported within about this long, or with other output */
#define SYN_LEN 24                   /* TCP header + the MSS option */

/* The heap holds the keys itself: comparing needs no visit to the targets. */
struct event {
	uint64_t key; /* ms: next start, or the deadline of the probe in flight */
	uint32_t id;
};

struct target targets[MAX_TARGETS];
static uint32_t inflight_n;
static struct event heap[MAX_TARGETS]; /* earliest first */
static uint32_t heap_n;

static int raw4 = -1, raw6 = -1, route4 = -1;
static uint16_t port4, port6; /* the reserved source ports, host order */

/* ---- output: results are collected and written once per loop turn ---- */
static char out[1 << 17];
static size_t out_n;
static uint64_t quiet_oks; /* oks not reported since the last "n" line */

static void flush_out(void) {
	size_t done = 0;
	while (done < out_n) {
		ssize_t n = write(STDOUT_FILENO, out + done, out_n - done);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) exit(0); /* the daemon is gone */
		done += (size_t)n;
	}
	out_n = 0;
}

/* Room for the longest line: an error quoting a whole request line, each byte escaped. */
#define EMIT_MAX (4 * MAX_LINE + 256)
void emit(const char *fmt, ...) {
	if (out_n + EMIT_MAX > sizeof out) flush_out();
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + out_n, EMIT_MAX, fmt, ap);
	va_end(ap);
	if (n > 0) out_n += (size_t)n < EMIT_MAX ? (size_t)n : EMIT_MAX - 1;
}

static uint64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- events: one binary heap of targets by key (next start, or deadline in flight) ---- */
static int earlier(uint32_t a, uint32_t b) { return heap[a].key < heap[b].key; }

static void heap_swap(uint32_t a, uint32_t b) {
	struct event t = heap[a];
	heap[a] = heap[b];
	heap[b] = t;
	targets[heap[a].id].heap_pos = (int)a;
	targets[heap[b].id].heap_pos = (int)b;
}

static void heap_fix(uint32_t i) {
	while (i > 0 && earlier(i, (i - 1) / 2)) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < heap_n && earlier(l, m)) m = l;
		if (r < heap_n && earlier(r, m)) m = r;
		if (m == i) return;
		heap_swap(i, m);
		i = m;
	}
}

static void heap_push(uint32_t id, uint64_t key) {
	heap[heap_n] = (struct event){ .key = key, .id = id };
	targets[id].heap_pos = (int)heap_n++;
	heap_fix((uint32_t)targets[id].heap_pos);
}

static void set_key(uint32_t id, uint64_t key) {
	uint32_t i = (uint32_t)targets[id].heap_pos;
	heap[i].key = key;
	heap_fix(i);
}

static void heap_remove(uint32_t id) {
	uint32_t i = (uint32_t)targets[id].heap_pos;
	heap_n--;
	if (i != heap_n) {
		heap_swap(i, heap_n);
		heap_fix(i);
	}
	targets[id].heap_pos = -1;
}

/* xorshift: jitter needs no more */
static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n) {
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n == 0 ? 0 : (uint32_t)(rng % n);
}

/* A probe ended: report it (an ok past the target's rise only counted); the next one starts
 * an interval (+-5 %) after this one did. */
void finish(uint32_t id, const char *result, uint64_t now) {
	struct target *t = &targets[id];
	if (result == NULL) {
		/* nothing known of the endpoint: its streak stays */
	} else if (strcmp(result, "ok") != 0) {
		t->streak = 0;
		emit("r %u %s\n", id, result);
	} else if (t->streak < t->rise) {
		t->streak++;
		emit("r %u ok\n", id);
	} else {
		quiet_oks++;
	}
	inflight_n -= t->inflight;
	t->inflight = 0;
	t->gen++;
	uint64_t next = t->sent + t->interval - t->interval / 20 + rnd(t->interval / 10 + 1);
	set_key(id, next > now ? next : now);
}

/* ---- sending ---- */
static uint16_t csum_fold(uint32_t sum) {
	while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const void *data, size_t len) {
	const uint8_t *b = data;
	for (size_t i = 0; i + 1 < len; i += 2) sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1) sum += (uint32_t)(b[len - 1] << 8);
	return sum;
}

/* The source address the kernel uses towards a target (the IPv4 checksum covers it): asked of
 * the routing table through a connected UDP socket, kept with the target for a few seconds. */
static int source_for(struct target *t, uint32_t *src, uint64_t now) {
	if (t->src_until > now) {
		*src = t->src;
		return 0;
	}
	/* Disconnect first: a UDP socket keeps the source address of its first connect(), and a
	 * SYN summed with another address than the one it leaves from is dropped as corrupt. */
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	connect(route4, &unspec, sizeof unspec);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9) };
	memcpy(&a.sin_addr.s_addr, t->addr, 4);
	socklen_t len = sizeof a;
	if (connect(route4, (struct sockaddr *)&a, sizeof a) < 0) return -1;
	if (getsockname(route4, (struct sockaddr *)&a, &len) < 0) return -1;
	t->src = a.sin_addr.s_addr;
	/* spread: targets added together do not all look again in the same tick */
	t->src_until = now + SRC_TTL_MS + rnd(SRC_TTL_MS);
	*src = t->src;
	return 0;
}

struct batch {
	int fd;
	uint32_t n;
	uint32_t id[BATCH];
	uint8_t pkt[BATCH][SYN_LEN];
	struct sockaddr_in6 to[BATCH]; /* big enough for either family */
	struct iovec iov[BATCH];
	struct mmsghdr msg[BATCH];
};
static struct batch b4, b6;

static void flush_batch(struct batch *b, uint64_t now) {
	uint32_t i = 0;
	while (i < b->n) {
		int n = sendmmsg(b->fd, b->msg + i, b->n - i, 0);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) {
			/* This one failed: no route or a local firewall's reject fail the probe; a full
			 * send buffer says nothing of the endpoint (no result, the next one comes). */
			finish(b->id[i], errno == EAGAIN || errno == ENOBUFS ? NULL : "unreachable", now);
			i++;
			continue;
		}
		i += (uint32_t)n;
	}
	b->n = 0;
}

static void fill_syn(uint8_t *t, uint16_t sport, uint16_t dport_net, uint32_t seq) {
	memset(t, 0, SYN_LEN);
	t[0] = (uint8_t)(sport >> 8);
	t[1] = (uint8_t)sport;
	memcpy(t + 2, &dport_net, 2);
	t[4] = (uint8_t)(seq >> 24);
	t[5] = (uint8_t)(seq >> 16);
	t[6] = (uint8_t)(seq >> 8);
	t[7] = (uint8_t)seq;
	t[12] = (SYN_LEN / 4) << 4; /* data offset */
	t[13] = 0x02;               /* SYN */
	t[14] = 0xfa;               /* window 64240 */
	t[15] = 0xf0;
	t[20] = 2; /* MSS 1460: a SYN as any stack sends it */
	t[21] = 4;
	t[22] = 0x05;
	t[23] = 0xb4;
}

/* A probe leaves: in flight until its answer or its timeout, whichever comes first. */
static void begin_probe(uint32_t id, uint64_t now) {
	struct target *t = &targets[id];
	t->inflight = 1;
	inflight_n++;
	t->sent = now;
	set_key(id, now + t->timeout);
}

static void send_probe(uint32_t id, uint64_t now) {
	struct target *p = &targets[id];
	begin_probe(id, now);
	struct batch *b = p->family == 4 ? &b4 : &b6;
	uint32_t seq = (uint32_t)p->gen << SLOT_BITS | id;
	uint8_t *t = b->pkt[b->n];
	memset(&b->to[b->n], 0, sizeof b->to[b->n]);
	if (p->family == 4) {
		uint32_t dst, src;
		memcpy(&dst, p->addr, 4);
		if (source_for(p, &src, now) < 0) {
			finish(id, "unreachable", now);
			return;
		}
		fill_syn(t, port4, p->port, seq);
		uint8_t pseudo[12] = { 0 };
		memcpy(pseudo, &src, 4);
		memcpy(pseudo + 4, &dst, 4);
		pseudo[9] = IPPROTO_TCP;
		pseudo[11] = SYN_LEN;
		uint16_t c = htons(csum_fold(csum_add(csum_add(0, pseudo, 12), t, SYN_LEN)));
		memcpy(t + 16, &c, 2);
		struct sockaddr_in *to = (struct sockaddr_in *)&b->to[b->n];
		to->sin_family = AF_INET;
		to->sin_addr.s_addr = dst;
		b->msg[b->n].msg_hdr.msg_namelen = sizeof *to;
	} else {
		fill_syn(t, port6, p->port, seq); /* the kernel sums it (IPV6_CHECKSUM) */
		struct sockaddr_in6 *to = &b->to[b->n];
		to->sin6_family = AF_INET6;
		memcpy(&to->sin6_addr, p->addr, 16);
		b->msg[b->n].msg_hdr.msg_namelen = sizeof *to;
	}
	b->id[b->n] = id;
	if (++b->n == BATCH) flush_batch(b, now);
}

/* ---- requests ---- */
static int parse_u32(const char *s, uint32_t max, uint32_t *v) {
	if (*s < '0' || *s > '9' || strlen(s) > 10) return -1;
	uint64_t n = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9') return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	if (n > max) return -1;
	*v = (uint32_t)n;
	return 0;
}

/* A malformed line, quoted with anything unprintable escaped. */
static void reject(const char *why, const char *line, size_t len) {
	char q[4 * MAX_LINE + 1];
	size_t n = 0;
	for (size_t i = 0; i < len && i < MAX_LINE; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') q[n++] = (char)c;
		else n += (size_t)snprintf(q + n, 5, "\\x%02x", c);
	}
	q[n] = 0;
	emit("e %s: \"%s%s\"\n", why, q, len > MAX_LINE ? "..." : "");
}

/* An HTTP check's path: "/" then printable ASCII without spaces (it goes into the request line). */
static int valid_path(const char *p) {
	if (p[0] != '/' || strlen(p) > MAX_PATH) return 0;
	for (; *p; p++) if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) return 0;
	return 1;
}

/* Leaves a slot free: out of the schedule, its connection closed. */
static void drop_target(uint32_t id) {
	struct target *t = &targets[id];
	if (t->family != 0) heap_remove(id);
	inflight_n -= t->inflight;
	t->inflight = 0;
	t->family = 0;
	t->gen++;
	http_free(t->http);
	t->http = NULL;
}

/* "a <id> <ip> <port> <interval_ms> <timeout_ms> <rise>" (TCP) or the same with " <path>" after
 * an "h" (HTTP). Everything is checked before the slot is touched: a bad line changes nothing. */
static void add_target(char **f, const char *line, size_t len, uint64_t now) {
	uint32_t id, port, interval, timeout, rise;
	uint8_t addr[16];
	int family;
	int http = f[0][0] == 'h';
	if (parse_u32(f[1], MAX_TARGETS - 1, &id) < 0) { reject("bad id", line, len); return; }
	if (inet_pton(AF_INET, f[2], addr) == 1) family = 4;
	else if (inet_pton(AF_INET6, f[2], addr) == 1) family = 6;
	else { reject("bad address", line, len); return; }
	if (parse_u32(f[3], 65535, &port) < 0 || port == 0) { reject("bad port", line, len); return; }
	if (parse_u32(f[4], MAX_MS, &interval) < 0 || interval == 0) { reject("bad interval", line, len); return; }
	if (parse_u32(f[5], MAX_MS, &timeout) < 0 || timeout == 0) { reject("bad timeout", line, len); return; }
	if (parse_u32(f[6], 65535, &rise) < 0 || rise == 0) { reject("bad rise", line, len); return; }
	if (http && !valid_path(f[7])) { reject("bad path", line, len); return; }
	if (!http && raw4 < 0) { reject("no TCP probes without raw sockets (CAP_NET_RAW)", line, len); return; }
	struct target n = {
		.family = (uint8_t)family, .kind = http ? KIND_HTTP : KIND_TCP, .port = htons((uint16_t)port),
		.interval = interval, .timeout = timeout, .rise = (uint16_t)rise, .heap_pos = -1,
	};
	memcpy(n.addr, addr, family == 4 ? 4 : 16);
	if (http && (n.http = http_new(&n, f[7])) == NULL) { reject("out of memory", line, len); return; }
	drop_target(id); /* replaced: its ok streak starts over */
	n.gen = (uint16_t)(targets[id].gen + 1);
	targets[id] = n;
	/* The first probe at a random point of the interval: targets added together spread. */
	heap_push(id, now + rnd(interval));
}

static void request(char *line, size_t len, uint64_t now) {
	char copy[MAX_LINE + 1];
	memcpy(copy, line, len);
	copy[len] = 0;
	char *f[9];
	int nf = 0;
	for (char *s = copy, *tok; nf < 9 && (tok = strsep(&s, " ")) != NULL;) f[nf++] = tok;
	if ((nf == 7 && strcmp(f[0], "a") == 0) || (nf == 8 && strcmp(f[0], "h") == 0)) {
		add_target(f, line, len, now);
	} else if (nf == 2 && strcmp(f[0], "d") == 0) {
		uint32_t id;
		if (parse_u32(f[1], MAX_TARGETS - 1, &id) < 0) { reject("bad id", line, len); return; }
		drop_target(id);
		emit("d %u\n", id);
	} else {
		reject("expected \"a <id> <ip> <port> <interval_ms> <timeout_ms> <rise>\", \"h <id> <ip> <port> <interval_ms> <timeout_ms> <rise> <path>\" or \"d <id>\"", line, len);
	}
}

static char in[1 << 16];
static size_t in_n;
static int skipping; /* inside an over-long line: drop up to its end */

/* Reads what stdin has; returns 0 at end of input. */
static int read_requests(void) {
	ssize_t n = read(STDIN_FILENO, in + in_n, sizeof in - in_n);
	if (n < 0) return errno == EINTR || errno == EAGAIN;
	if (n == 0) return 0;
	in_n += (size_t)n;
	uint64_t now = now_ms();
	size_t start = 0;
	for (size_t i = 0; i < in_n; i++) {
		if (in[i] != '\n') continue;
		size_t len = i - start;
		if (skipping) skipping = 0;
		else if (len > MAX_LINE) reject("line too long", in + start, len);
		else if (len > 0) request(in + start, len, now);
		start = i + 1;
	}
	memmove(in, in + start, in_n - start);
	in_n -= start;
	if (in_n > MAX_LINE) { /* no newline in sight: report once, drop to the next one */
		if (!skipping) reject("line too long", in, in_n);
		skipping = 1;
		in_n = 0;
	}
	return 1;
}

/* ---- answers ---- */
static void answer(const uint8_t *tcp, size_t len, uint16_t want_port, int family, const void *src, uint64_t now) {
	if (len < 20) return;
	uint16_t sport_net, dport;
	memcpy(&sport_net, tcp, 2);
	dport = (uint16_t)(tcp[2] << 8 | tcp[3]);
	uint8_t flags = tcp[13];
	if (dport != want_port || !(flags & 0x10)) return; /* not to us, or no ack */
	int ok = (flags & 0x12) == 0x12;
	if (!ok && !(flags & 0x04)) return; /* neither SYN-ACK nor RST */
	uint32_t ack = (uint32_t)tcp[8] << 24 | (uint32_t)tcp[9] << 16 | (uint32_t)tcp[10] << 8 | tcp[11];
	uint32_t seq = ack - 1, id = seq & (MAX_TARGETS - 1);
	struct target *t = &targets[id];
	if (t->family != family || t->kind != KIND_TCP || !t->inflight || t->gen != (uint16_t)(seq >> SLOT_BITS) || t->port != sport_net) return;
	if (memcmp(t->addr, src, family == 4 ? 4 : 16) != 0) return;
	finish(id, ok ? "ok" : "refused", now);
}

static uint8_t rbuf[BATCH][128];
static struct sockaddr_in6 rfrom[BATCH];
static struct iovec riov[BATCH];
static struct mmsghdr rmsg[BATCH];

static void read_answers(int fd, int family, uint64_t now) {
	for (;;) {
		for (int i = 0; i < BATCH; i++) rmsg[i].msg_hdr.msg_namelen = sizeof rfrom[i];
		int n = recvmmsg(fd, rmsg, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) return;
		for (int i = 0; i < n; i++) {
			size_t len = rmsg[i].msg_len;
			const uint8_t *pkt = rbuf[i];
			if (len > sizeof rbuf[i]) len = sizeof rbuf[i];
			if (family == 4) { /* IPv4 raw sockets see the IP header; IPv6 ones do not */
				if (len < 20) continue;
				size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
				if (len < ihl) continue;
				answer(pkt + ihl, len - ihl, port4, 4, pkt + 12, now);
			} else {
				answer(pkt, len, port6, 6, &rfrom[i].sin6_addr, now);
			}
		}
		if (n < BATCH) return;
	}
}

/* The oks only counted since the last time, as one line (the daemon's metric stays exact); at
 * most every QUIET_MS, or with the tick's other output: a line per tick alone would wake the
 * daemon 100 times a second for nothing but a counter. */
static uint64_t quiet_at;
static void emit_quiet_oks(uint64_t now, int now_anyway) {
	if (quiet_oks == 0) return;
	if (!now_anyway && out_n == 0 && now - quiet_at < QUIET_MS) return;
	quiet_at = now;
	emit("n %llu\n", (unsigned long long)quiet_oks);
	quiet_oks = 0;
}

/* The first tick (a multiple of TICK_MS) after `ms`. */
static uint64_t next_tick(uint64_t ms) { return ms - ms % TICK_MS + TICK_MS; }

static void start_http(uint32_t id, uint64_t now) {
	begin_probe(id, now);
	http_start(id, now); /* may end at once (refused, no socket): then finished */
}

/* Timeouts, then the probes that are due: one sendmmsg per family for all of them. */
static void run_due(uint64_t now) {
	while (heap_n > 0 && heap[0].key <= now) {
		uint32_t id = heap[0].id;
		struct target *t = &targets[id];
		if (t->inflight && t->kind == KIND_HTTP) http_abort(t->http);
		if (t->inflight) finish(id, "timeout", now);
		else if (t->kind == KIND_TCP) send_probe(id, now);
		else start_http(id, now);
	}
	flush_batch(&b4, now);
	flush_batch(&b6, now);
}

/* ---- set-up ---- */
static void fail(const char *what) {
	int e = errno;
	fprintf(stderr, "kube-ipvs-prober: %s: %s\n", what, strerror(e));
	exit(1);
}

/* One descriptor per HTTP-checked endpoint: the soft limit (often 1024) up to the hard one. */
static void raise_fd_limit(void) {
	struct rlimit r;
	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

/* A TCP port of our own that never listens: the kernel resets every SYN-ACK sent to it. */
static uint16_t reserve_port(int family) {
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) return 0;
	struct sockaddr_in6 a = { 0 };
	socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof a;
	a.sin6_family = (sa_family_t)family;
	if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){ 1 }, sizeof(int));
	if (bind(fd, (struct sockaddr *)&a, len) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		close(fd);
		return 0;
	}
	return ntohs(a.sin6_port); /* same offset as sin_port */
}

/* Only TCP segments to `port` (the IPv4 filter steps over the IP header). */
static void attach_filter(int fd, uint16_t port, int family) {
	struct sock_filter f4[] = {
		BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
		BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 128),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_filter f6[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 2),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 128),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = family == AF_INET
		? (struct sock_fprog){ .len = sizeof f4 / sizeof f4[0], .filter = f4 }
		: (struct sock_fprog){ .len = sizeof f6 / sizeof f6[0], .filter = f6 };
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) fail("SO_ATTACH_FILTER");
}

/* A raw TCP socket that sees nothing until its filter is on, then drops what queued before;
 * -1 when there is none to have: no IPv6 on this node, or no CAP_NET_RAW (HTTP checks only). */
static int open_raw(int family, uint16_t port) {
	int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0) {
		if (errno == EAFNOSUPPORT || errno == EPERM || errno == EACCES) return -1;
		fail(family == AF_INET ? "raw IPv4 socket" : "raw IPv6 socket");
	}
	attach_filter(fd, port, family);
	uint8_t drain[64];
	while (recv(fd, drain, sizeof drain, MSG_DONTWAIT) >= 0) {}
	if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_CHECKSUM, &(int){ 16 }, sizeof(int)) < 0) fail("IPV6_CHECKSUM");
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){ 4 << 20 }, sizeof(int));
	return fd;
}

static void init_batch(struct batch *b, int fd) {
	b->fd = fd;
	for (int i = 0; i < BATCH; i++) {
		b->iov[i] = (struct iovec){ .iov_base = b->pkt[i], .iov_len = SYN_LEN };
		b->msg[i].msg_hdr = (struct msghdr){ .msg_name = &b->to[i], .msg_iov = &b->iov[i], .msg_iovlen = 1 };
	}
}

int main(int argc, char **argv) {
	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: kube-ipvs-prober (requests on stdin, results on stdout; see prober.c)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	if (http_init() < 0) fail("epoll");
	port4 = reserve_port(AF_INET);
	if (port4 == 0) fail("reserving an IPv4 source port");
	port6 = reserve_port(AF_INET6); /* 0: no IPv6 */
	raw4 = open_raw(AF_INET, port4);
	if (raw4 >= 0 && port6 != 0) raw6 = open_raw(AF_INET6, port6);
	route4 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (route4 < 0) fail("UDP socket");
	init_batch(&b4, raw4);
	init_batch(&b6, raw6);
	for (int i = 0; i < BATCH; i++) {
		riov[i] = (struct iovec){ .iov_base = rbuf[i], .iov_len = sizeof rbuf[i] };
		rmsg[i].msg_hdr = (struct msghdr){ .msg_name = &rfrom[i], .msg_iov = &riov[i], .msg_iovlen = 1 };
	}
	for (uint32_t i = 0; i < MAX_TARGETS; i++) targets[i].heap_pos = -1;
	rng ^= (uint64_t)getpid() << 32 ^ now_ms();
	emit("ready %u %u %s %s\n", raw4 < 0 ? 0 : port4, raw6 < 0 ? 0 : port6, raw4 < 0 ? "http" : "tcp,http", http_io());
	flush_out();

	/* Only stdin wakes it up; answers wait in the raw sockets' buffers and the connections'
	 * for the next tick, so 10,000 answers a second are not 10,000 wake-ups. */
	struct pollfd in_fd = { .fd = STDIN_FILENO, .events = POLLIN };
	uint64_t last = 0; /* when the last tick's work ran */
	for (;;) {
		uint64_t now = now_ms();
		int64_t wait = -1;
		if (inflight_n > 0 || out_n > 0) wait = (int64_t)(next_tick(now) - now);
		else if (heap_n > 0) wait = (int64_t)(next_tick(heap[0].key > now ? heap[0].key - 1 : now) - now);
		int r = poll(&in_fd, 1, (int)wait);
		if (r < 0 && errno != EINTR) fail("poll");
		if (r > 0 && !read_requests()) {
			emit_quiet_oks(now_ms(), 1);
			flush_out();
			return 0;
		}
		now = now_ms();
		if (r == 0 || now / TICK_MS != last / TICK_MS) {
			last = now;
			if (raw4 >= 0) read_answers(raw4, 4, now);
			if (raw6 >= 0) read_answers(raw6, 6, now);
			http_poll(now);
			run_due(now);
			http_flush();
			emit_quiet_oks(now, 0);
			flush_out();
		}
	}
}
