/*
 * kube-ipvs-prober's HTTP checks: GET <path> on a kept-alive connection per endpoint, the
 * semantics of the daemon's in-process probe (src/observe/http-probe.ts):
 *   - one request per probe on the target's open connection, or on a new one (a non-blocking
 *     connect) when none is open; an ordinary connect(), so the node's own source address;
 *   - ok = a complete answer with status 200-399 within the timeout; the answer is framed by
 *     Content-Length, chunked (up to the last 0-chunk and its trailers), 204/304 (no body), or
 *     else runs to the connection's close; "Connection: close" or HTTP/1.0 close it after;
 *   - refused, reset, silence and garbage fail; a reused connection that closes before any byte
 *     of the answer (the server's idle close racing our request) is retried once on a new one;
 *   - bytes nobody asked for (between probes, or after an answer) close the connection.
 * Status line and headers are bounded (MAX_HEAD); a body is discarded as it streams.
 *
 * Why here and not in node: node's share of an HTTP probe was ~35 us (a socket's events, a
 * Buffer per read, a promise, a timer); here it is a slot of a tick's io_uring submission (the
 * request) and a completion read from the ring (the answer): ~0.1 system calls a probe
 * (uring.c). Where io_uring is refused, one send() and one recv() and a slice of an
 * epoll_wait shared by a tick's answers. Either is read only once per tick (the main loop's
 * 10 ms grid), so 10,000 answers a second are not 10,000 wake-ups. The two paths share
 * everything but the I/O: the state, the parser, and what ends a probe or a connection.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "prober.h"
#include "uring.h"

#define MAX_HEAD (64 * 1024) /* status line, headers and chunked trailers of one answer */
#define LINE_CAP 128         /* the part of a line kept: enough for every header read here */
#define EVENTS 256
#define READS_PER_EVENT 4 /* a busy stream waits for the next tick rather than starving others */

enum state {
	IDLE,       /* no probe on this connection (or no connection) */
	CONNECTING, /* waiting to be writable: connected, or refused */
	WRITING,    /* the request partly written (a full send buffer; rare) */
	STATUS,     /* reading the status line */
	HEADERS,
	BODY_LENGTH, /* `left` bytes of body to go */
	BODY_CLOSE,  /* no framing: the body ends with the connection */
	CHUNK_SIZE,
	CHUNK_DATA,  /* `left` bytes of this chunk to go */
	CHUNK_END,   /* the CRLF after a chunk's data */
	TRAILERS,
};

enum { FRAME_NONE, FRAME_LENGTH, FRAME_CHUNKED };

enum { OP_CONNECT = 1, OP_SEND = 2, OP_RECV = 4 }; /* io_uring: the operations in flight */

struct http {
	int fd;          /* -1: no connection */
	uint32_t conn;   /* unique per connection: events (completions) of a closed one miss */
	uint32_t events; /* what epoll watches on fd */
	uint8_t ops;     /* io_uring: OP_* in flight on fd */
	uint8_t state;   /* enum state */
	uint8_t used;    /* the connection carried a whole answer already */
	uint8_t retried; /* this probe's one retry on a new connection is spent */
	uint8_t keep;    /* the connection stays open after this answer */
	uint8_t framing;
	uint8_t said;       /* a failed socket() was reported; again only after one opened */
	uint8_t line_long;  /* the current line outgrew line[] */
	uint16_t status;
	uint16_t line_n;
	uint16_t req_len, req_sent;
	uint32_t head; /* bytes of status line, headers and trailers so far */
	uint64_t got;  /* bytes of this answer so far */
	uint64_t left;
	struct sockaddr_in6 sa; /* io_uring: the address of the connect queued */
	char line[LINE_CAP];
	char req[]; /* the request, built once */
};

static int ep = -1;
static char rbuf[64 * 1024];
static int uring; /* the I/O goes through io_uring (uring.c), else epoll */
static uint32_t conns;

/* io_uring unless it is refused (or KUBE_IPVS_PROBER_IO=epoll): see uring.c. */
int http_init(void) {
	const char *io = getenv("KUBE_IPVS_PROBER_IO");
	uring = (io == NULL || strcmp(io, "epoll") != 0) && uring_init() == 0;
	if (uring) return 0;
	ep = epoll_create1(EPOLL_CLOEXEC);
	return ep;
}

const char *http_io(void) { return uring ? "io_uring" : "epoll"; }

struct http *http_new(const struct target *t, const char *path) {
	char ip[INET6_ADDRSTRLEN];
	inet_ntop(t->family == 4 ? AF_INET : AF_INET6, t->addr, ip, sizeof ip);
	const char *fmt = t->family == 4 ? "%s:%u" : "[%s]:%u";
	char host[INET6_ADDRSTRLEN + 8];
	snprintf(host, sizeof host, fmt, ip, ntohs(t->port));
	const char *tmpl = "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: kube-ipvs-health-check\r\nAccept: */*\r\n\r\n";
	int len = snprintf(NULL, 0, tmpl, path, host);
	struct http *h = calloc(1, sizeof *h + (size_t)len + 1);
	if (h == NULL) return NULL;
	snprintf(h->req, (size_t)len + 1, tmpl, path, host);
	h->req_len = (uint16_t)len;
	h->fd = -1;
	return h;
}

static void disconnect(struct http *h) {
	/* An operation in flight holds the socket open past close(): shutdown() ends it (its
	 * completion then misses: fd is -1). With epoll, close() also leaves the epoll set. */
	if (h->fd >= 0 && h->ops != 0) shutdown(h->fd, SHUT_RDWR);
	if (h->fd >= 0) close(h->fd);
	h->fd = -1;
	h->used = 0;
	h->events = 0;
	h->ops = 0;
}

void http_free(struct http *h) {
	if (h == NULL) return;
	disconnect(h);
	free(h);
}

void http_abort(struct http *h) {
	disconnect(h);
	h->state = IDLE;
}

static void watch(uint32_t id, struct http *h, uint32_t events) {
	if (h->events == events) return;
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)h->conn << 32 | id };
	epoll_ctl(ep, h->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, h->fd, &ev);
	h->events = events;
}

/* The probe ends; the connection stays only when it is fit for the next one. */
static void done(uint32_t id, struct http *h, const char *result, int keep, uint64_t now) {
	if (!keep) disconnect(h);
	h->state = IDLE;
	finish(id, result, now);
}

static const char *failure_of(int err) {
	switch (err) {
	case ECONNREFUSED: return "refused";
	case ENETUNREACH:
	case EHOSTUNREACH: return "unreachable";
	case ETIMEDOUT: return "timeout";
	default: return "failed";
	}
}

static void open_and_send(uint32_t id, struct http *h, uint64_t now);

/* io_uring: the user_data of an operation on a target's connection. */
static uint64_t tag(unsigned op, const struct http *h, uint32_t id) { return (uint64_t)op << 48 | (uint64_t)h->conn << 16 | id; }

/* io_uring: an SQE for an operation on the target's connection (NULL: the queue is full). */
static struct io_uring_sqe *queue(unsigned op, uint8_t opcode, uint32_t id, struct http *h) {
	struct io_uring_sqe *s = uring_sqe();
	if (s == NULL) return NULL;
	s->opcode = opcode;
	s->fd = h->fd;
	s->user_data = tag(op, h, id);
	h->ops |= (uint8_t)op;
	return s;
}

/* io_uring: one receive armed for the connection's life (multishot): answers, and the close. */
static void arm_recv(uint32_t id, struct http *h) {
	struct io_uring_sqe *s = queue(OP_RECV, IORING_OP_RECV, id, h);
	if (s == NULL) return; /* the next completion or the probe's timeout sees to it */
	s->ioprio = IORING_RECV_MULTISHOT | IORING_RECVSEND_POLL_FIRST; /* nothing to read yet */
	s->flags = IOSQE_BUFFER_SELECT;
	s->buf_group = URING_BGID;
}

/* The connection failed (err; 0: closed) before the answer was whole. */
static void broken(uint32_t id, struct http *h, int err, uint64_t now) {
	if (h->got == 0 && h->used && !h->retried) {
		/* A kept-alive connection the server closed as we wrote to it: once more on a new one. */
		h->retried = 1;
		disconnect(h);
		open_and_send(id, h, now);
		return;
	}
	done(id, h, err == 0 ? "failed" : failure_of(err), 0, now);
}

static void send_request(uint32_t id, struct http *h, uint64_t now) {
	if (uring) {
		/* Sent with the tick's other requests; the answer comes on the armed receive. */
		struct io_uring_sqe *s = queue(OP_SEND, IORING_OP_SEND, id, h);
		if (s == NULL) { done(id, h, "failed", 0, now); return; }
		s->addr = (uint64_t)(uintptr_t)(h->req + h->req_sent);
		s->len = (uint32_t)(h->req_len - h->req_sent);
		s->msg_flags = MSG_NOSIGNAL;
		h->state = STATUS;
		return;
	}
	while (h->req_sent < h->req_len) {
		ssize_t n = send(h->fd, h->req + h->req_sent, h->req_len - h->req_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0 && errno == EAGAIN) {
			h->state = WRITING;
			watch(id, h, EPOLLOUT);
			return;
		}
		if (n < 0) {
			broken(id, h, errno, now);
			return;
		}
		h->req_sent += (uint16_t)n;
	}
	h->state = STATUS;
	watch(id, h, EPOLLIN);
}

static void open_and_send(uint32_t id, struct http *h, uint64_t now) {
	struct target *t = &targets[id];
	/* io_uring's operations wait on a blocking socket without blocking us (they poll). */
	int fd = socket(t->family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | (uring ? 0 : SOCK_NONBLOCK), 0);
	if (fd < 0) {
		/* Out of descriptors or memory: this probe fails, said once until a socket opens. */
		if (!h->said) emit("e no socket for %u: %s\n", id, strerror(errno));
		h->said = 1;
		done(id, h, "failed", 0, now);
		return;
	}
	h->said = 0;
	h->fd = fd;
	h->conn = ++conns;
	h->events = 0;
	h->ops = 0;
	h->used = 0;
	h->req_sent = 0;
	struct sockaddr_in6 *sa = &h->sa;
	struct sockaddr_in6 a = { 0 };
	socklen_t len = sizeof a;
	if (t->family == 4) {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&a;
		a4->sin_family = AF_INET;
		a4->sin_port = t->port;
		memcpy(&a4->sin_addr, t->addr, 4);
		len = sizeof *a4;
	} else {
		a.sin6_family = AF_INET6;
		a.sin6_port = t->port;
		memcpy(&a.sin6_addr, t->addr, 16);
	}
	if (uring) {
		/* The address is read when the tick's queue is submitted: kept with the target. */
		*sa = a;
		struct io_uring_sqe *s = queue(OP_CONNECT, IORING_OP_CONNECT, id, h);
		if (s == NULL) { done(id, h, "failed", 0, now); return; }
		s->addr = (uint64_t)(uintptr_t)sa;
		s->off = len;
		h->state = CONNECTING;
		return;
	}
	if (connect(fd, (struct sockaddr *)&a, len) == 0) {
		send_request(id, h, now);
	} else if (errno == EINPROGRESS) {
		h->state = CONNECTING;
		watch(id, h, EPOLLOUT);
	} else {
		done(id, h, failure_of(errno), 0, now);
	}
}

void http_start(uint32_t id, uint64_t now) {
	struct http *h = targets[id].http;
	h->retried = 0;
	h->got = 0;
	h->head = 0;
	h->line_n = 0;
	h->line_long = 0;
	h->status = 0;
	h->keep = 1;
	h->framing = FRAME_NONE;
	h->left = 0;
	if (h->fd < 0) {
		open_and_send(id, h, now);
	} else {
		h->req_sent = 0;
		send_request(id, h, now);
	}
}

/* ---- the answer: a byte-fed parser, so nothing is kept but a line's start ---- */

/* Case-insensitive "name:" at the start of a header line: where its value starts, or NULL. */
static const char *header(const char *line, const char *name) {
	size_t n = strlen(name);
	if (strncasecmp(line, name, n) != 0) return NULL;
	line += n;
	while (*line == ' ' || *line == '\t') line++;
	return line;
}

/* The status line: "HTTP/1.x ddd ..."; -1 when it is not one. */
static int status_line(struct http *h) {
	const char *l = h->line;
	if (h->line_long || h->line_n < 12 || strncmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') || l[8] != ' ') return -1;
	if (l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9') return -1;
	if (h->line_n > 12 && l[12] != ' ') return -1;
	h->status = (uint16_t)((l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0'));
	h->keep = l[7] == '1'; /* HTTP/1.0 closes after the answer */
	return 0;
}

/* One header line; -1 when a header that frames the answer cannot be read. */
static int header_line(struct http *h) {
	const char *v;
	if ((v = header(h->line, "content-length:")) != NULL) {
		if (h->line_long || *v < '0' || *v > '9') return -1;
		uint64_t n = 0;
		for (; *v >= '0' && *v <= '9'; v++) {
			if (n > (UINT64_MAX - 9) / 10) return -1;
			n = n * 10 + (uint64_t)(*v - '0');
		}
		while (*v == ' ' || *v == '\t') v++;
		if (*v != 0) return -1;
		if (h->framing != FRAME_CHUNKED) h->framing = FRAME_LENGTH;
		h->left = n;
	} else if ((v = header(h->line, "transfer-encoding:")) != NULL) {
		if (h->line_long) return -1;
		if (strcasestr(v, "chunked") != NULL) h->framing = FRAME_CHUNKED; /* over any length */
	} else if ((v = header(h->line, "connection:")) != NULL) {
		if (h->line_long) return -1;
		if (strcasestr(v, "close") != NULL) h->keep = 0;
	}
	return 0;
}

/* The empty line after the headers: how the body is framed. 1: the answer is whole. */
static int body_starts(struct http *h) {
	if (h->status < 200 || h->status == 204 || h->status == 304) return 1; /* no body (1xx: not ok) */
	if (h->framing == FRAME_CHUNKED) h->state = CHUNK_SIZE;
	else if (h->framing == FRAME_LENGTH) h->state = BODY_LENGTH;
	else { h->state = BODY_CLOSE; h->keep = 0; }
	return h->state == BODY_LENGTH && h->left == 0;
}

/* A chunk's size line: hex digits, then maybe extensions. */
static int chunk_size(struct http *h) {
	if (h->line_long) return -1;
	const char *l = h->line;
	uint64_t n = 0;
	int digits = 0;
	for (;; l++, digits++) {
		int d = *l >= '0' && *l <= '9' ? *l - '0' : *l >= 'a' && *l <= 'f' ? *l - 'a' + 10 : *l >= 'A' && *l <= 'F' ? *l - 'A' + 10 : -1;
		if (d < 0) break;
		if (digits == 15) return -1;
		n = n << 4 | (uint64_t)d;
	}
	if (digits == 0 || (*l != 0 && *l != ';' && *l != ' ' && *l != '\t')) return -1;
	h->left = n;
	h->state = n == 0 ? TRAILERS : CHUNK_DATA;
	return 0;
}

/* A whole line in line[] (CRLF gone): -1 garbage, 1 the answer is whole, 0 go on. */
static int on_line(struct http *h) {
	int empty = h->line_n == 0 && !h->line_long;
	switch (h->state) {
	case STATUS:
		if (status_line(h) < 0) return -1;
		h->state = HEADERS;
		return 0;
	case HEADERS:
		return empty ? body_starts(h) : header_line(h);
	case CHUNK_SIZE: return chunk_size(h);
	case CHUNK_END:
		if (!empty) return -1;
		h->state = CHUNK_SIZE;
		return 0;
	case TRAILERS: return empty ? 1 : 0;
	default: return -1;
	}
}

/* Bytes of a line: kept up to LINE_CAP, counted against MAX_HEAD. Returns bytes used, and in
 * *r what on_line said when the line ended (else 0). */
static size_t line_bytes(struct http *h, const char *b, size_t n, int *r) {
	*r = 0;
	const char *nl = memchr(b, '\n', n);
	size_t take = nl == NULL ? n : (size_t)(nl - b) + 1;
	if (h->state != CHUNK_SIZE && h->state != CHUNK_END) {
		h->head += (uint32_t)(take > MAX_HEAD ? MAX_HEAD : take);
		if (h->head > MAX_HEAD) { *r = -1; return take; }
	}
	size_t keep = nl == NULL ? take : take - 1;
	for (size_t i = 0; i < keep; i++) {
		if (h->line_n < LINE_CAP - 1) h->line[h->line_n++] = b[i];
		else h->line_long = 1;
	}
	if (nl == NULL) return take;
	if (h->line_n > 0 && h->line[h->line_n - 1] == '\r') h->line_n--;
	h->line[h->line_n] = 0;
	*r = on_line(h);
	h->line_n = 0;
	h->line_long = 0;
	return take;
}

/* Feeds received bytes: -1 garbage, 1 the answer is whole (with *rest bytes after it), 0 more. */
static int feed(struct http *h, const char *b, size_t n, size_t *rest) {
	h->got += n;
	while (n > 0) {
		size_t used;
		int r = 0;
		if (h->state == BODY_CLOSE) return 0;
		if (h->state == BODY_LENGTH || h->state == CHUNK_DATA) {
			used = h->left < n ? (size_t)h->left : n;
			h->left -= used;
			if (h->left == 0 && h->state == CHUNK_DATA) h->state = CHUNK_END;
			else if (h->left == 0) r = 1;
		} else {
			used = line_bytes(h, b, n, &r);
		}
		b += used;
		n -= used;
		if (r != 0) {
			*rest = n;
			return r;
		}
	}
	return 0;
}

static int ok_status(const struct http *h) { return h->status >= 200 && h->status < 400; }

/* What a read of the connection gave: n bytes at b, 0 its close, -errno its failure. The
 * answer, or bytes nobody asked for. 1: read on; 0: the probe or the connection ended. */
static int received(uint32_t id, struct http *h, const char *b, ssize_t n, uint64_t now) {
	if (h->state == IDLE) { /* closed, reset, or unasked bytes: not a connection to keep */
		disconnect(h);
		return 0;
	}
	if (n < 0) { broken(id, h, (int)-n, now); return 0; }
	if (n == 0) {
		/* A body that runs to the close is whole; anything else is cut short. */
		if (h->state == BODY_CLOSE) done(id, h, ok_status(h) ? "ok" : "failed", 0, now);
		else broken(id, h, 0, now);
		return 0;
	}
	size_t rest = 0;
	int r = feed(h, b, (size_t)n, &rest);
	if (r < 0) { done(id, h, "failed", 0, now); return 0; }
	if (r > 0) {
		h->used = 1;
		done(id, h, ok_status(h) ? "ok" : "failed", h->keep && rest == 0, now);
		return 0;
	}
	return 1;
}

/* epoll: the connection is readable. */
static void readable(uint32_t id, struct http *h, uint64_t now) {
	for (int i = 0; i < READS_PER_EVENT; i++) {
		ssize_t n = recv(h->fd, rbuf, sizeof rbuf, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0 && errno == EAGAIN) return;
		if (!received(id, h, rbuf, n < 0 ? -errno : n, now)) return;
	}
}

static void connected(uint32_t id, struct http *h, uint64_t now) {
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
	if (err != 0) done(id, h, failure_of(err), 0, now);
	else send_request(id, h, now);
}

static void event(const struct epoll_event *ev, uint64_t now) {
	uint32_t id = (uint32_t)(ev->data.u64 & 0xffffffffu), conn = (uint32_t)(ev->data.u64 >> 32);
	struct target *t = &targets[id];
	struct http *h = t->http;
	if (t->family == 0 || t->kind != KIND_HTTP || h == NULL || h->fd < 0 || h->conn != conn) return; /* gone meanwhile */
	if (h->state == CONNECTING) connected(id, h, now);
	else if (h->state == WRITING) send_request(id, h, now);
	else readable(id, h, now);
}

static uint64_t reap_now;

/* io_uring: one operation on a connection completed. */
static void completion(uint64_t user_data, int32_t res, uint32_t flags, const char *buf) {
	uint32_t id = (uint32_t)(user_data & 0xffffu), conn = (uint32_t)(user_data >> 16);
	unsigned op = (unsigned)(user_data >> 48);
	struct target *t = &targets[id];
	struct http *h = t->http;
	if (t->family == 0 || t->kind != KIND_HTTP || h == NULL || h->fd < 0 || h->conn != conn) return; /* gone meanwhile */
	uint64_t now = reap_now;
	switch (op) {
	case OP_CONNECT:
		h->ops &= (uint8_t)~OP_CONNECT;
		if (res < 0) { done(id, h, failure_of(-res), 0, now); return; }
		arm_recv(id, h);
		send_request(id, h, now);
		return;
	case OP_SEND:
		h->ops &= (uint8_t)~OP_SEND;
		if (res < 0 && h->state == IDLE) disconnect(h);
		else if (res < 0) broken(id, h, -res, now);
		else if (h->state != IDLE && (h->req_sent += (uint16_t)res) < h->req_len) send_request(id, h, now); /* the rest */
		return;
	case OP_RECV:
		if (!(flags & IORING_CQE_F_MORE)) h->ops &= (uint8_t)~OP_RECV;
		/* Out of buffers: armed again (they are back by the time the tick's queue goes). */
		if (res != -ENOBUFS) received(id, h, buf, res, now);
		if (h->fd >= 0 && h->conn == conn && !(h->ops & OP_RECV)) arm_recv(id, h);
		return;
	default: return;
	}
}

void http_flush(void) {
	if (uring) uring_submit();
}

void http_poll(uint64_t now) {
	if (uring) {
		reap_now = now;
		uring_reap(completion);
		return;
	}
	static struct epoll_event ev[EVENTS];
	for (int round = 0; round < 64; round++) {
		int n = epoll_wait(ep, ev, EVENTS, 0);
		for (int i = 0; i < n; i++) event(&ev[i], now);
		if (n < EVENTS) return;
	}
}
