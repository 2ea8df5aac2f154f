/*
 * test.c: the C API's test program. It runs every operation's success and
 * error path, the cross-thread calls, misuse, and close with work in
 * flight, on io_uring (when the machine allows it) and on epoll, and exits
 * nonzero on the first failure. Built by examples/c/Makefile, also with
 * AddressSanitizer (make check), and run by capi/ci.sh.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ioloop.h"

static const char *backend_label = "?";
static int checks;

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		checks++;                                                                        \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "FAIL [%s] %s:%d: %s\n", backend_label, __FILE__, __LINE__, \
				#cond);                                                          \
			exit(1);                                                                 \
		}                                                                                \
	} while (0)

#define CHECK_EQ(got, want)                                                                           \
	do {                                                                                          \
		long long got_ = (long long)(got), want_ = (long long)(want);                         \
		checks++;                                                                             \
		if (got_ != want_) {                                                                  \
			fprintf(stderr, "FAIL [%s] %s:%d: %s = %lld (%s), want %lld (%s)\n", backend_label, \
				__FILE__, __LINE__, #got, got_, ioloop_strerror((int32_t)got_), want_,  \
				ioloop_strerror((int32_t)want_));                                     \
			exit(1);                                                                      \
		}                                                                                     \
	} while (0)

/* An operation under test: its completion and what its callback saw. */
typedef struct op {
	ioloop_completion c;
	int calls;
	int32_t result;
	ioloop_loop *loop_seen;
} op;

static void on_done(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	op *o = userdata;
	CHECK(c == &o->c);
	CHECK(!ioloop_completion_pending(c));
	o->calls++;
	o->result = result;
	o->loop_seen = loop;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* run_until runs the loop until o's callback ran (at most 5 s). */
static void run_until(ioloop_loop *loop, op *o)
{
	int64_t deadline = now_ns() + 5000000000LL;
	while (o->calls == 0) {
		CHECK(now_ns() < deadline);
		CHECK_EQ(ioloop_run_for(loop, 10 * 1000000), 0);
	}
	CHECK_EQ(o->calls, 1);
}

static ioloop_loop *new_loop(int backend)
{
	ioloop_options opts;
	memset(&opts, 0, sizeof opts);
	opts.backend = (uint32_t)backend;
	ioloop_loop *loop = NULL;
	CHECK_EQ(ioloop_loop_new(&loop, &opts), 0);
	CHECK(loop != NULL);
	return loop;
}

/* ---------------------------------------------------------------------- */

static void test_lifecycle(int backend)
{
	ioloop_loop *loop = new_loop(backend);
	CHECK_EQ(ioloop_loop_backend(loop), backend);
	CHECK(strcmp(ioloop_backend_name(backend), backend == IOLOOP_BACKEND_EPOLL ? "epoll" : "io_uring") == 0);
	char reason[256];
	CHECK_EQ(ioloop_loop_fallback_reason(loop, reason, sizeof reason), 0); /* explicit backend */
	CHECK_EQ(ioloop_run_for(loop, -1), 0);
	CHECK_EQ(ioloop_tick(loop), 0);
	CHECK_EQ(ioloop_run(loop), 0); /* nothing pending: returns at once */
	CHECK_EQ(ioloop_loop_pending(loop), 0);
	CHECK_EQ(ioloop_loop_close(loop), 0);

	/* Defaults, and an invalid option. */
	CHECK_EQ(ioloop_loop_new(&loop, NULL), 0);
	int b = ioloop_loop_backend(loop);
	CHECK(b == IOLOOP_BACKEND_IO_URING || b == IOLOOP_BACKEND_EPOLL);
	size_t n = ioloop_loop_fallback_reason(loop, reason, sizeof reason);
	CHECK((b == IOLOOP_BACKEND_IO_URING) == (n == 0));
	CHECK_EQ(ioloop_loop_close(loop), 0);

	ioloop_options bad;
	memset(&bad, 0, sizeof bad);
	bad._reserved[0] = 1;
	CHECK_EQ(ioloop_loop_new(&loop, &bad), -EINVAL);
	CHECK(loop == NULL);
	char msg[256];
	CHECK(ioloop_last_error(NULL, msg, sizeof msg) > 0);
	bad._reserved[0] = 0;
	bad.entries = 1 << 20;
	CHECK_EQ(ioloop_loop_new(&loop, &bad), -EINVAL);
	CHECK(strstr(msg, "reserved") != NULL);
	/* completion_entries: at least entries. */
	memset(&bad, 0, sizeof bad);
	bad.backend = (uint32_t)backend;
	bad.entries = 64;
	bad.completion_entries = 512;
	CHECK_EQ(ioloop_loop_new(&loop, &bad), 0);
	CHECK_EQ(ioloop_loop_close(loop), 0);
	bad.completion_entries = 32;
	int rc = ioloop_loop_new(&loop, &bad);
	if (backend == IOLOOP_BACKEND_IO_URING) {
		CHECK_EQ(rc, -EINVAL);
	} else { /* the readiness backends ignore it */
		CHECK_EQ(rc, 0);
		CHECK_EQ(ioloop_loop_close(loop), 0);
	}
	CHECK_EQ(ioloop_loop_new(NULL, NULL), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_loop_close(NULL), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_run_for(NULL, 0), IOLOOP_EMISUSE);

	/* strerror */
	CHECK(strcmp(ioloop_strerror(-ENOENT), "no such file or directory") == 0);
	CHECK(strcmp(ioloop_strerror(5), "success") == 0);
	CHECK(strstr(ioloop_strerror(IOLOOP_EMISUSE), "misuse") != NULL);
	CHECK(strstr(ioloop_strerror(IOLOOP_ECLOSED), "closed") != NULL);
	CHECK(strcmp(ioloop_strerror(-100000), "unknown error") == 0);
}

/* IOLOOP_OPT_LOCKED_THREAD: another thread driving the loop is refused
 * (io_uring's SINGLE_ISSUER ring says EEXIST, reported as misuse). */
typedef struct foreign_driver {
	ioloop_loop *loop;
	op nop;
	int rc;
} foreign_driver;

static void *drive_from_other_thread(void *arg)
{
	foreign_driver *f = arg;
	CHECK_EQ(ioloop_nop(f->loop, &f->nop.c, on_done, &f->nop), 0);
	f->rc = ioloop_run_for(f->loop, -1);
	return NULL;
}

static void test_locked_thread(int backend)
{
	ioloop_options opts;
	memset(&opts, 0, sizeof opts);
	opts.backend = (uint32_t)backend;
	opts.flags = IOLOOP_OPT_LOCKED_THREAD;
	ioloop_loop *loop;
	CHECK_EQ(ioloop_loop_new(&loop, &opts), 0);
	op a = {0};
	CHECK_EQ(ioloop_nop(loop, &a.c, on_done, &a), 0);
	CHECK_EQ(ioloop_run(loop), 0);
	CHECK_EQ(a.result, 0);
	foreign_driver f = {.loop = loop};
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, drive_from_other_thread, &f), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	if (backend == IOLOOP_BACKEND_IO_URING) {
		CHECK_EQ(f.rc, IOLOOP_EMISUSE);
		char msg[256];
		ioloop_last_error(loop, msg, sizeof msg);
		CHECK(strstr(msg, "another OS thread") != NULL);
	} else {
		CHECK_EQ(f.rc, 0);
	}
	CHECK_EQ(ioloop_run(loop), 0); /* the owner thread finishes the NOP */
	CHECK_EQ(f.nop.calls, 1);
	CHECK_EQ(f.nop.result, 0);
	CHECK_EQ(ioloop_loop_close(loop), 0);
}

/* ---------------------------------------------------------------------- */

static void test_nop_timers_cancel(int backend)
{
	ioloop_loop *loop = new_loop(backend);
	op a = {0}, b = {0}, cancel = {0};

	CHECK_EQ(ioloop_nop(loop, &a.c, on_done, &a), 0);
	CHECK(ioloop_completion_pending(&a.c));
	CHECK_EQ(ioloop_loop_pending(loop), 1);
	CHECK_EQ(ioloop_nop(loop, &a.c, on_done, &a), IOLOOP_EMISUSE); /* still pending */
	CHECK_EQ(ioloop_nop(loop, &b.c, NULL, &b), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_nop(NULL, &b.c, on_done, &b), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_nop(loop, NULL, on_done, &b), IOLOOP_EMISUSE);
	run_until(loop, &a);
	CHECK_EQ(a.result, 0);
	CHECK(a.loop_seen == loop);
	CHECK_EQ(ioloop_completion_result(&a.c), 0);
	CHECK_EQ(ioloop_loop_pending(loop), 0);

	/* ioloop_run returns once everything is done. */
	a.calls = 0;
	CHECK_EQ(ioloop_next_tick(loop, &a.c, on_done, &a), 0);
	CHECK_EQ(ioloop_nop(loop, &b.c, on_done, &b), 0);
	CHECK_EQ(ioloop_run(loop), 0);
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(b.calls, 1);

	/* A timer fires, not early. */
	a.calls = 0;
	int64_t start = now_ns();
	CHECK_EQ(ioloop_timeout(loop, &a.c, 20 * 1000000, on_done, &a), 0);
	CHECK_EQ(ioloop_run(loop), 0);
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(a.result, 0);
	CHECK(now_ns() - start >= 20 * 1000000);

	/* Cancel a pending timer: -ECANCELED for it, 0 for the cancel. */
	a.calls = b.calls = 0;
	CHECK_EQ(ioloop_timeout(loop, &a.c, 10ULL * 1000000000, on_done, &a), 0);
	CHECK_EQ(ioloop_run_for(loop, -1), 0);
	CHECK_EQ(ioloop_cancel(loop, &cancel.c, &a.c, on_done, &cancel), 0);
	CHECK_EQ(ioloop_run(loop), 0);
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(a.result, -ECANCELED);
	CHECK_EQ(cancel.calls, 1);
	CHECK_EQ(cancel.result, 0);

	/* Cancel a completion that is not pending: -ENOENT; cancel a
	 * completion submitted in the same batch (not yet in Go): it works. */
	cancel.calls = 0;
	CHECK_EQ(ioloop_cancel(loop, &cancel.c, &b.c, on_done, &cancel), 0);
	run_until(loop, &cancel);
	CHECK_EQ(cancel.result, -ENOENT);
	a.calls = cancel.calls = 0;
	CHECK_EQ(ioloop_timeout(loop, &a.c, 10ULL * 1000000000, on_done, &a), 0);
	CHECK_EQ(ioloop_cancel(loop, &cancel.c, &a.c, on_done, &cancel), 0);
	CHECK_EQ(ioloop_run(loop), 0);
	CHECK_EQ(a.result, -ECANCELED);
	CHECK_EQ(cancel.result, 0);
	CHECK_EQ(ioloop_cancel(loop, &cancel.c, &cancel.c, on_done, &cancel), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_cancel(loop, &cancel.c, NULL, on_done, &cancel), IOLOOP_EMISUSE);

	/* Release returns the slot; the completion works again afterwards. */
	CHECK_EQ(ioloop_completion_release(loop, &a.c), 0);
	a.calls = 0;
	CHECK_EQ(ioloop_nop(loop, &a.c, on_done, &a), 0);
	CHECK_EQ(ioloop_completion_release(loop, &a.c), IOLOOP_EMISUSE); /* pending */
	CHECK_EQ(ioloop_run(loop), 0);
	CHECK_EQ(a.calls, 1);

	CHECK_EQ(ioloop_loop_close(loop), 0);
}

/* ---------------------------------------------------------------------- */
/* Misuse from callbacks. */

typedef struct reentry {
	ioloop_completion c;
	int run_rc, close_rc, calls;
} reentry;

static void on_reenter(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	(void)c;
	(void)result;
	reentry *r = userdata;
	r->calls++;
	r->run_rc = ioloop_run_for(loop, 0);
	r->close_rc = ioloop_loop_close(loop);
}

static void test_misuse(int backend)
{
	ioloop_loop *loop = new_loop(backend);
	reentry r = {0};
	CHECK_EQ(ioloop_nop(loop, &r.c, on_reenter, &r), 0);
	CHECK_EQ(ioloop_run(loop), 0);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.run_rc, IOLOOP_EMISUSE);
	CHECK_EQ(r.close_rc, IOLOOP_EMISUSE);
	char msg[256];
	CHECK(ioloop_last_error(loop, msg, sizeof msg) > 0);
	CHECK(strstr(msg, "callbacks") != NULL);

	/* A second wait on one event: the Go API's panic, recovered and
	 * delivered as IOLOOP_EMISUSE to the second wait's callback. */
	ioloop_event *ev = ioloop_event_new(loop);
	CHECK(ev != NULL);
	op w1 = {0}, w2 = {0};
	CHECK_EQ(ioloop_wait_event(loop, &w1.c, ev, on_done, &w1), 0);
	CHECK_EQ(ioloop_wait_event(loop, &w2.c, ev, on_done, &w2), 0);
	run_until(loop, &w2);
	CHECK_EQ(w2.result, IOLOOP_EMISUSE);
	CHECK(ioloop_last_error(loop, msg, sizeof msg) > 0);
	CHECK(strstr(msg, "WaitEvent") != NULL);
	CHECK_EQ(w1.calls, 0);
	ioloop_event_trigger(ev);
	run_until(loop, &w1);
	CHECK_EQ(w1.result, 1);

	/* An event of another loop is refused. */
	ioloop_loop *other = new_loop(backend);
	ioloop_event *foreign = ioloop_event_new(other);
	CHECK_EQ(ioloop_wait_event(loop, &w1.c, foreign, on_done, &w1), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_loop_close(other), 0);

	CHECK_EQ(ioloop_loop_close(loop), 0);
	/* (The loop pointer is invalid now; not touched again.) */
}

/* ---------------------------------------------------------------------- */
/* Cross-thread: post, event trigger, stop. */

enum { POSTS = 1000 };

typedef struct xthread {
	ioloop_loop *loop;
	ioloop_event *ev;
	op posts[POSTS];
	int posted_ok;
	int delivered;
} xthread;

static void on_posted(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	(void)loop;
	(void)c;
	xthread *x = userdata;
	CHECK_EQ(result, 0);
	x->delivered++;
}

static void *poster(void *arg)
{
	xthread *x = arg;
	for (int i = 0; i < POSTS; i++) {
		int rc;
		while ((rc = ioloop_post(x->loop, &x->posts[i].c, on_posted, x)) == -EAGAIN)
			usleep(100);
		CHECK_EQ(rc, 0);
		__atomic_add_fetch(&x->posted_ok, 1, __ATOMIC_SEQ_CST);
		ioloop_event_trigger(x->ev);
	}
	usleep(20000);
	ioloop_stop(x->loop);
	return NULL;
}

typedef struct waiter {
	ioloop_completion c;
	ioloop_event *ev;
	int64_t triggers;
} waiter;

static void on_event(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	waiter *w = userdata;
	if (result == -ECANCELED)
		return;
	CHECK(result >= 1);
	w->triggers += result;
	CHECK_EQ(ioloop_wait_event(loop, c, w->ev, on_event, w), 0);
}

static void test_cross_thread(int backend)
{
	xthread *x = calloc(1, sizeof *x);
	x->loop = new_loop(backend);
	x->ev = ioloop_event_new(x->loop);
	waiter w = {.ev = x->ev};
	CHECK_EQ(ioloop_wait_event(x->loop, &w.c, x->ev, on_event, &w), 0);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, poster, x), 0);
	/* Runs until the poster's ioloop_stop. */
	CHECK_EQ(ioloop_run_for(x->loop, INT64_MAX), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(ioloop_run_for(x->loop, 10 * 1000000), 0);
	CHECK_EQ(x->delivered, POSTS);
	CHECK_EQ(w.triggers, POSTS);
	/* A stop before the run ends the next run. */
	ioloop_stop(x->loop);
	int64_t start = now_ns();
	CHECK_EQ(ioloop_run_for(x->loop, 5LL * 1000000000), 0);
	CHECK(now_ns() - start < 1000000000);
	CHECK_EQ(ioloop_loop_close(x->loop), 0); /* cancels the wait */
	free(x);

	/* A full inbox: -EAGAIN, and nothing queued. */
	ioloop_options opts;
	memset(&opts, 0, sizeof opts);
	opts.backend = (uint32_t)backend;
	opts.inbox_entries = 2;
	ioloop_loop *loop;
	CHECK_EQ(ioloop_loop_new(&loop, &opts), 0);
	xthread *y = calloc(1, sizeof *y);
	CHECK_EQ(ioloop_post(loop, &y->posts[0].c, on_posted, y), 0);
	CHECK_EQ(ioloop_post(loop, &y->posts[1].c, on_posted, y), 0);
	CHECK_EQ(ioloop_post(loop, &y->posts[2].c, on_posted, y), -EAGAIN);
	CHECK(!ioloop_completion_pending(&y->posts[2].c));
	CHECK_EQ(ioloop_post(loop, &y->posts[0].c, on_posted, y), IOLOOP_EMISUSE); /* pending */
	/* Posted callbacks run at the latest during close. */
	CHECK_EQ(ioloop_loop_close(loop), 0);
	CHECK_EQ(y->delivered, 2);
	free(y);
}

/* ---------------------------------------------------------------------- */
/* Network */

static void test_net(int backend)
{
	ioloop_loop *loop = new_loop(backend);
	struct sockaddr_storage addr, bound;
	socklen_t addrlen, boundlen;
	CHECK_EQ(ioloop_sockaddr_parse("127.0.0.1:0", &addr, &addrlen), 0);
	CHECK_EQ(addrlen, sizeof(struct sockaddr_in));
	CHECK_EQ(ioloop_sockaddr_parse("nonsense", &addr, &addrlen), -EINVAL);
	CHECK_EQ(ioloop_sockaddr_parse("127.0.0.1:0", &addr, &addrlen), 0);
	int lfd = ioloop_listen_tcp((struct sockaddr *)&addr, addrlen, 0, IOLOOP_LISTEN_NODELAY, &bound, &boundlen);
	CHECK(lfd >= 0);
	char text[64];
	CHECK(ioloop_sockaddr_format((struct sockaddr *)&bound, boundlen, text, sizeof text) > 0);
	CHECK(strncmp(text, "127.0.0.1:", 10) == 0);

	op acc = {0}, con = {0}, snd = {0}, rcv = {0}, sh = {0}, cl1 = {0}, cl2 = {0};
	int cfd = ioloop_tcp_socket((struct sockaddr *)&bound, boundlen);
	CHECK(cfd >= 0);
	CHECK_EQ(ioloop_accept(loop, &acc.c, lfd, on_done, &acc), 0);
	CHECK_EQ(ioloop_connect(loop, &con.c, cfd, (struct sockaddr *)&bound, boundlen, on_done, &con), 0);
	run_until(loop, &acc);
	run_until(loop, &con);
	CHECK(acc.result >= 0);
	CHECK_EQ(con.result, 0);
	int sfd = acc.result;

	char out[1000], in[1000];
	for (size_t i = 0; i < sizeof out; i++)
		out[i] = (char)i;
	CHECK_EQ(ioloop_send(loop, &snd.c, cfd, out, sizeof out, on_done, &snd), 0);
	run_until(loop, &snd);
	CHECK_EQ(snd.result, sizeof out);
	size_t got = 0;
	while (got < sizeof in) {
		rcv.calls = 0;
		CHECK_EQ(ioloop_recv(loop, &rcv.c, sfd, in + got, sizeof in - got, on_done, &rcv), 0);
		run_until(loop, &rcv);
		CHECK(rcv.result > 0);
		got += (size_t)rcv.result;
	}
	CHECK(memcmp(in, out, sizeof in) == 0);

	/* Shutdown: the peer's receive reports end of stream (0). */
	CHECK_EQ(ioloop_shutdown(loop, &sh.c, cfd, SHUT_WR, on_done, &sh), 0);
	run_until(loop, &sh);
	CHECK_EQ(sh.result, 0);
	rcv.calls = 0;
	CHECK_EQ(ioloop_recv(loop, &rcv.c, sfd, in, sizeof in, on_done, &rcv), 0);
	run_until(loop, &rcv);
	CHECK_EQ(rcv.result, 0);

	CHECK_EQ(ioloop_close(loop, &cl1.c, cfd, on_done, &cl1), 0);
	CHECK_EQ(ioloop_close(loop, &cl2.c, sfd, on_done, &cl2), 0);
	CHECK_EQ(ioloop_run(loop), 0);
	CHECK_EQ(cl1.result, 0);
	CHECK_EQ(cl2.result, 0);

	/* Error paths: a bad descriptor, a refused connection, a foreign
	 * address family, accept on a socket that does not listen. */
	rcv.calls = 0;
	CHECK_EQ(ioloop_recv(loop, &rcv.c, 1 << 20, in, sizeof in, on_done, &rcv), 0);
	run_until(loop, &rcv);
	CHECK_EQ(rcv.result, -EBADF);
	cl1.calls = 0;
	CHECK_EQ(ioloop_close(loop, &cl1.c, 1 << 20, on_done, &cl1), 0);
	run_until(loop, &cl1);
	CHECK_EQ(cl1.result, -EBADF);
	CHECK_EQ(ioloop_close(loop, &cl1.c, lfd, on_done, &cl1), 0); /* frees the port */
	cl1.calls = 0;
	CHECK_EQ(ioloop_run(loop), 0);
	cfd = ioloop_tcp_socket((struct sockaddr *)&bound, boundlen);
	con.calls = 0;
	CHECK_EQ(ioloop_connect(loop, &con.c, cfd, (struct sockaddr *)&bound, boundlen, on_done, &con), 0);
	run_until(loop, &con);
	CHECK_EQ(con.result, -ECONNREFUSED);
	struct sockaddr bogus = {.sa_family = AF_APPLETALK};
	con.calls = 0;
	CHECK_EQ(ioloop_connect(loop, &con.c, cfd, &bogus, sizeof bogus, on_done, &con), 0);
	run_until(loop, &con);
	CHECK_EQ(con.result, -EAFNOSUPPORT);
	acc.calls = 0;
	CHECK_EQ(ioloop_accept(loop, &acc.c, cfd, on_done, &acc), 0);
	run_until(loop, &acc);
	CHECK(acc.result == -EINVAL || acc.result == -ENOTSOCK || acc.result == -EOPNOTSUPP);
	close(cfd);
	CHECK_EQ(ioloop_listen_tcp((struct sockaddr *)&bogus, sizeof bogus, 0, 0, NULL, NULL), -EAFNOSUPPORT);

	/* UDP: sendto and recvfrom with the sender's address. */
	int ufd = ioloop_listen_udp((struct sockaddr *)&addr, addrlen, &bound, &boundlen);
	CHECK(ufd >= 0);
	int u2 = ioloop_listen_udp((struct sockaddr *)&addr, addrlen, NULL, NULL);
	CHECK(u2 >= 0);
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof from;
	rcv.calls = snd.calls = 0;
	CHECK_EQ(ioloop_recvfrom(loop, &rcv.c, ufd, in, sizeof in, (struct sockaddr *)&from, &fromlen, on_done, &rcv), 0);
	CHECK_EQ(ioloop_sendto(loop, &snd.c, u2, "datagram", 8, (struct sockaddr *)&bound, boundlen, on_done, &snd), 0);
	run_until(loop, &rcv);
	run_until(loop, &snd);
	CHECK_EQ(snd.result, 8);
	CHECK_EQ(rcv.result, 8);
	CHECK(memcmp(in, "datagram", 8) == 0);
	CHECK_EQ(fromlen, sizeof(struct sockaddr_in));
	CHECK_EQ(((struct sockaddr_in *)&from)->sin_family, AF_INET);
	CHECK_EQ(((struct sockaddr_in *)&from)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	snd.calls = 0;
	CHECK_EQ(ioloop_sendto(loop, &snd.c, u2, "x", 1, &bogus, sizeof bogus, on_done, &snd), 0);
	run_until(loop, &snd);
	CHECK_EQ(snd.result, -EAFNOSUPPORT);
	close(ufd);
	close(u2);

	/* Unix sockets. */
	char path[] = "/tmp/ioloop-capi-test-XXXXXX";
	CHECK(mkdtemp(path) != NULL);
	char sock[128];
	snprintf(sock, sizeof sock, "%s/s", path);
	int ulfd = ioloop_listen_unix(sock, 0);
	CHECK(ulfd >= 0);
	int ucfd = ioloop_unix_socket();
	CHECK(ucfd >= 0);
	struct sockaddr_storage un;
	memset(&un, 0, sizeof un);
	un.ss_family = AF_UNIX;
	strcpy(((char *)&un) + 2, sock);
	acc.calls = con.calls = 0;
	CHECK_EQ(ioloop_accept(loop, &acc.c, ulfd, on_done, &acc), 0);
	CHECK_EQ(ioloop_connect(loop, &con.c, ucfd, (struct sockaddr *)&un, sizeof un, on_done, &con), 0);
	run_until(loop, &acc);
	run_until(loop, &con);
	CHECK(acc.result >= 0);
	CHECK_EQ(con.result, 0);
	close(acc.result);
	close(ucfd);
	close(ulfd);
	unlink(sock);
	rmdir(path);

	CHECK_EQ(ioloop_loop_close(loop), 0);
}

/* ---------------------------------------------------------------------- */
/* Files */

static void test_files(int backend)
{
	ioloop_loop *loop = new_loop(backend);
	char dir[] = "/tmp/ioloop-capi-files-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0);
	op o = {0};
#define DO(call)                               \
	do {                                   \
		o.calls = 0;                   \
		CHECK_EQ((call), 0);           \
		run_until(loop, &o);           \
	} while (0)

	DO(ioloop_openat(loop, &o.c, dfd, "f", O_RDWR | O_CREAT | O_EXCL, 0644, on_done, &o));
	CHECK(o.result >= 0);
	int fd = o.result;
	DO(ioloop_write(loop, &o.c, fd, "hello world", 11, 0, on_done, &o));
	CHECK_EQ(o.result, 11);
	char buf[64] = {0};
	DO(ioloop_read(loop, &o.c, fd, buf, sizeof buf, 0, on_done, &o));
	CHECK_EQ(o.result, 11);
	CHECK(memcmp(buf, "hello world", 11) == 0);
	DO(ioloop_read(loop, &o.c, fd, buf, sizeof buf, 11, on_done, &o));
	CHECK_EQ(o.result, 0); /* end of file */

	char a[3] = "abc", b[4] = "defg";
	struct iovec wv[2] = {{a, 3}, {b, 4}};
	DO(ioloop_writev(loop, &o.c, fd, wv, 2, 100, on_done, &o));
	CHECK_EQ(o.result, 7);
	char ra[2], rb[5];
	struct iovec rv[2] = {{ra, 2}, {rb, 5}};
	DO(ioloop_readv(loop, &o.c, fd, rv, 2, 100, on_done, &o));
	CHECK_EQ(o.result, 7);
	CHECK(memcmp(ra, "ab", 2) == 0 && memcmp(rb, "cdefg", 5) == 0);

	DO(ioloop_write_durable(loop, &o.c, fd, "dur", 3, 200, IOLOOP_DATA_SYNC, on_done, &o));
	CHECK_EQ(o.result, 3);
	DO(ioloop_write_durable(loop, &o.c, fd, "dur", 3, 203, IOLOOP_FILE_SYNC, on_done, &o));
	CHECK_EQ(o.result, 3);
	CHECK_EQ(ioloop_write_durable(loop, &o.c, fd, "dur", 3, 0, 7, on_done, &o), IOLOOP_EMISUSE);
	DO(ioloop_fsync(loop, &o.c, fd, on_done, &o));
	CHECK_EQ(o.result, 0);
	DO(ioloop_fdatasync(loop, &o.c, fd, on_done, &o));
	CHECK_EQ(o.result, 0);
	DO(ioloop_fallocate(loop, &o.c, fd, 0, 0, 8192, on_done, &o));
	CHECK_EQ(o.result, 0);
	struct stat st;
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK_EQ(st.st_size, 8192);
	DO(ioloop_ftruncate(loop, &o.c, fd, 10, on_done, &o));
	CHECK_EQ(o.result, 0);
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK_EQ(st.st_size, 10);
	DO(ioloop_fadvise(loop, &o.c, fd, 0, 0, POSIX_FADV_SEQUENTIAL, on_done, &o));
	CHECK_EQ(o.result, 0);
	DO(ioloop_sync_file_range(loop, &o.c, fd, 0, 0, SYNC_FILE_RANGE_WRITE, on_done, &o));
	CHECK_EQ(o.result, 0);
	DO(ioloop_fallocate(loop, &o.c, fd, 0, 0, 0, on_done, &o)); /* zero length */
	CHECK_EQ(o.result, -EINVAL);
	DO(ioloop_read(loop, &o.c, fd, buf, sizeof buf, -2, on_done, &o)); /* bad offset */
	CHECK_EQ(o.result, -EINVAL);

	/* Paths. */
	DO(ioloop_mkdirat(loop, &o.c, dfd, "d", 0755, on_done, &o));
	CHECK_EQ(o.result, 0);
	DO(ioloop_mkdirat(loop, &o.c, dfd, "d", 0755, on_done, &o));
	CHECK_EQ(o.result, -EEXIST);
	DO(ioloop_renameat(loop, &o.c, dfd, "f", dfd, "g", 0, on_done, &o));
	CHECK_EQ(o.result, 0);
	DO(ioloop_linkat(loop, &o.c, dfd, "g", dfd, "h", 0, on_done, &o));
	CHECK_EQ(o.result, 0);
	DO(ioloop_renameat(loop, &o.c, dfd, "g", dfd, "h", IOLOOP_RENAME_NOREPLACE, on_done, &o));
	CHECK_EQ(o.result, -EEXIST);
	DO(ioloop_symlinkat(loop, &o.c, "g", dfd, "s", on_done, &o));
	CHECK_EQ(o.result, 0);
	CHECK_EQ(faccessat(dfd, "s", F_OK, 0), 0);
	DO(ioloop_unlinkat(loop, &o.c, dfd, "s", 0, on_done, &o));
	CHECK_EQ(o.result, 0);
	DO(ioloop_unlinkat(loop, &o.c, dfd, "h", 0, on_done, &o));
	CHECK_EQ(o.result, 0);
	DO(ioloop_unlinkat(loop, &o.c, dfd, "d", AT_REMOVEDIR, on_done, &o));
	CHECK_EQ(o.result, 0);
	DO(ioloop_close(loop, &o.c, fd, on_done, &o));
	CHECK_EQ(o.result, 0);
	DO(ioloop_unlinkat(loop, &o.c, dfd, "g", 0, on_done, &o));
	CHECK_EQ(o.result, 0);

	/* Error paths. */
	DO(ioloop_openat(loop, &o.c, dfd, "missing", O_RDONLY, 0, on_done, &o));
	CHECK_EQ(o.result, -ENOENT);
	DO(ioloop_unlinkat(loop, &o.c, dfd, "missing", 0, on_done, &o));
	CHECK_EQ(o.result, -ENOENT);
	DO(ioloop_read(loop, &o.c, 1 << 20, buf, sizeof buf, 0, on_done, &o));
	CHECK_EQ(o.result, -EBADF);
	DO(ioloop_write(loop, &o.c, 1 << 20, buf, sizeof buf, 0, on_done, &o));
	CHECK_EQ(o.result, -EBADF);
	DO(ioloop_fsync(loop, &o.c, 1 << 20, on_done, &o));
	CHECK_EQ(o.result, -EBADF);
	CHECK_EQ(ioloop_openat(loop, &o.c, dfd, NULL, O_RDONLY, 0, on_done, &o), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_read(loop, &o.c, 0, NULL, 10, 0, on_done, &o), IOLOOP_EMISUSE);
#undef DO
	close(dfd);
	CHECK_EQ(rmdir(dir), 0);
	CHECK_EQ(ioloop_loop_close(loop), 0);
}

/* ---------------------------------------------------------------------- */
/* Close with work in flight. */

typedef struct closing {
	op accept, recv, timer, nop;
	op late; /* submitted from a callback during close */
	int late_rc;
} closing;

/* ---------------------------------------------------------------------- */
/* statx, sendmsg/recvmsg (with control data), send_zc */

static void test_statx_msg_zc(int backend)
{
	ioloop_loop *loop = new_loop(backend);
	op o = {0};
#define RUN1(call)                     \
	do {                           \
		o.calls = 0;           \
		CHECK_EQ((call), 0);   \
		run_until(loop, &o);   \
	} while (0)

	/* statx: the size and mode match stat(2); a missing path, misuse. */
	struct statx stx;
	memset(&stx, 0, sizeof stx);
	struct stat st;
	CHECK_EQ(stat("/proc/self/exe", &st), 0);
	RUN1(ioloop_statx(loop, &o.c, AT_FDCWD, "/proc/self/exe", 0, STATX_BASIC_STATS, &stx, on_done, &o));
	CHECK_EQ(o.result, 0);
	CHECK_EQ(stx.stx_size, st.st_size);
	CHECK_EQ(stx.stx_mode, st.st_mode);
	CHECK(stx.stx_mask & STATX_SIZE);
	RUN1(ioloop_statx(loop, &o.c, AT_FDCWD, "/nonexistent/ioloop-capi", 0, STATX_BASIC_STATS, &stx, on_done, &o));
	CHECK_EQ(o.result, -ENOENT);
	CHECK_EQ(ioloop_statx(loop, &o.c, AT_FDCWD, "/", 0, STATX_BASIC_STATS, NULL, on_done, &o), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_statx(loop, &o.c, AT_FDCWD, NULL, 0, STATX_BASIC_STATS, &stx, on_done, &o), IOLOOP_EMISUSE);

	/* sendmsg/recvmsg on UDP: two iovecs each way, the sender's address. */
	struct sockaddr_storage addr, bound;
	socklen_t addrlen, boundlen;
	CHECK_EQ(ioloop_sockaddr_parse("127.0.0.1:0", &addr, &addrlen), 0);
	int ufd = ioloop_listen_udp((struct sockaddr *)&addr, addrlen, &bound, &boundlen);
	CHECK(ufd >= 0);
	int u2 = ioloop_listen_udp((struct sockaddr *)&addr, addrlen, NULL, NULL);
	CHECK(u2 >= 0);
	op snd = {0}, rcv = {0};
	char h[] = "head:", t[] = "tail";
	struct iovec sv[2] = {{h, 5}, {t, 4}};
	struct msghdr sm;
	memset(&sm, 0, sizeof sm);
	sm.msg_iov = sv;
	sm.msg_iovlen = 2;
	sm.msg_name = &bound;
	sm.msg_namelen = boundlen;
	char r1[3], r2[16];
	struct iovec rv[2] = {{r1, 3}, {r2, sizeof r2}};
	struct sockaddr_storage from;
	struct msghdr rm;
	memset(&rm, 0, sizeof rm);
	rm.msg_iov = rv;
	rm.msg_iovlen = 2;
	rm.msg_name = &from;
	rm.msg_namelen = sizeof from;
	CHECK_EQ(ioloop_recvmsg(loop, &rcv.c, ufd, &rm, on_done, &rcv), 0);
	CHECK_EQ(ioloop_sendmsg(loop, &snd.c, u2, &sm, on_done, &snd), 0);
	run_until(loop, &rcv);
	run_until(loop, &snd);
	CHECK_EQ(snd.result, 9);
	CHECK_EQ(rcv.result, 9);
	CHECK(memcmp(r1, "hea", 3) == 0 && memcmp(r2, "d:tail", 6) == 0);
	CHECK_EQ(rm.msg_flags, 0);
	CHECK_EQ(rm.msg_controllen, 0);
	CHECK_EQ(rm.msg_namelen, sizeof(struct sockaddr_in));
	CHECK_EQ(((struct sockaddr_in *)&from)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));

	/* A datagram longer than the iovecs: MSG_TRUNC. */
	struct iovec small = {r1, 3};
	rm.msg_iov = &small;
	rm.msg_iovlen = 1;
	rm.msg_namelen = sizeof from;
	rcv.calls = snd.calls = 0;
	CHECK_EQ(ioloop_recvmsg(loop, &rcv.c, ufd, &rm, on_done, &rcv), 0);
	CHECK_EQ(ioloop_sendmsg(loop, &snd.c, u2, &sm, on_done, &snd), 0);
	run_until(loop, &rcv);
	run_until(loop, &snd);
	CHECK_EQ(rcv.result, 3);
	CHECK(rm.msg_flags & MSG_TRUNC);

	/* Error paths: a bad descriptor, a unix destination, no destination on
	 * an unconnected socket, misuse. */
	RUN1(ioloop_sendmsg(loop, &o.c, 1 << 20, &sm, on_done, &o));
	CHECK_EQ(o.result, -EBADF);
	RUN1(ioloop_recvmsg(loop, &o.c, 1 << 20, &rm, on_done, &o));
	CHECK_EQ(o.result, -EBADF);
	struct sockaddr_storage un;
	memset(&un, 0, sizeof un);
	un.ss_family = AF_UNIX;
	strcpy(((char *)&un) + 2, "/tmp/nowhere");
	sm.msg_name = &un;
	sm.msg_namelen = sizeof un;
	RUN1(ioloop_sendmsg(loop, &o.c, u2, &sm, on_done, &o));
	CHECK_EQ(o.result, -EAFNOSUPPORT);
	sm.msg_name = NULL;
	sm.msg_namelen = 0;
	RUN1(ioloop_sendmsg(loop, &o.c, u2, &sm, on_done, &o));
	CHECK_EQ(o.result, -EDESTADDRREQ);
	CHECK_EQ(ioloop_sendmsg(loop, &o.c, u2, NULL, on_done, &o), IOLOOP_EMISUSE);
	struct msghdr badm;
	memset(&badm, 0, sizeof badm);
	badm.msg_iovlen = 1;
	CHECK_EQ(ioloop_recvmsg(loop, &o.c, ufd, &badm, on_done, &o), IOLOOP_EMISUSE);
	close(ufd);
	close(u2);

	/* Control data: a descriptor passed with SCM_RIGHTS over a unix pair. */
	int pair[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
	int passed = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	CHECK(passed >= 0);
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cout, cin;
	memset(&cout, 0, sizeof cout);
	memset(&cin, 0, sizeof cin);
	struct iovec one = {h, 1};
	memset(&sm, 0, sizeof sm);
	sm.msg_iov = &one;
	sm.msg_iovlen = 1;
	sm.msg_control = cout.buf;
	sm.msg_controllen = sizeof cout.buf;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&sm);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &passed, sizeof(int));
	char got1;
	struct iovec in1 = {&got1, 1};
	memset(&rm, 0, sizeof rm);
	rm.msg_iov = &in1;
	rm.msg_iovlen = 1;
	rm.msg_control = cin.buf;
	rm.msg_controllen = sizeof cin.buf;
	rcv.calls = snd.calls = 0;
	CHECK_EQ(ioloop_recvmsg(loop, &rcv.c, pair[1], &rm, on_done, &rcv), 0);
	CHECK_EQ(ioloop_sendmsg(loop, &snd.c, pair[0], &sm, on_done, &snd), 0);
	run_until(loop, &rcv);
	run_until(loop, &snd);
	CHECK_EQ(snd.result, 1);
	CHECK_EQ(rcv.result, 1);
	CHECK_EQ(got1, 'h');
	CHECK(rm.msg_controllen >= CMSG_LEN(sizeof(int))); /* the kernel reports it padded (CMSG_SPACE) */
	cm = CMSG_FIRSTHDR(&rm);
	CHECK(cm != NULL);
	CHECK_EQ(cm->cmsg_type, SCM_RIGHTS);
	int received;
	memcpy(&received, CMSG_DATA(cm), sizeof(int));
	struct stat s1, s2;
	CHECK_EQ(fstat(passed, &s1), 0);
	CHECK_EQ(fstat(received, &s2), 0);
	CHECK(s1.st_ino == s2.st_ino && s1.st_dev == s2.st_dev);
	close(received);
	close(passed);

	/* send_zc: 256 KiB over the unix pair (the kernel has no zero-copy
	 * path there: the loop sends it as ioloop_send) and over TCP. */
	static char big[256 * 1024], back[256 * 1024];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(i * 7);
	int lfd = ioloop_listen_tcp((struct sockaddr *)&addr, addrlen, 0, 0, &bound, &boundlen);
	CHECK(lfd >= 0);
	int cfd = ioloop_tcp_socket((struct sockaddr *)&bound, boundlen);
	op acc = {0}, con = {0};
	CHECK_EQ(ioloop_accept(loop, &acc.c, lfd, on_done, &acc), 0);
	CHECK_EQ(ioloop_connect(loop, &con.c, cfd, (struct sockaddr *)&bound, boundlen, on_done, &con), 0);
	run_until(loop, &acc);
	run_until(loop, &con);
	CHECK(acc.result >= 0);
	int sfd = acc.result;
	int senders[2] = {pair[0], cfd}, receivers[2] = {pair[1], sfd};
	for (int k = 0; k < 2; k++) {
		memset(back, 0, sizeof back);
		snd.calls = 0;
		CHECK_EQ(ioloop_send_zc(loop, &snd.c, senders[k], big, sizeof big, on_done, &snd), 0);
		size_t got = 0;
		while (got < sizeof back) {
			rcv.calls = 0;
			CHECK_EQ(ioloop_recv(loop, &rcv.c, receivers[k], back + got, sizeof back - got, on_done, &rcv), 0);
			run_until(loop, &rcv);
			CHECK(rcv.result > 0);
			got += (size_t)rcv.result;
		}
		run_until(loop, &snd);
		CHECK_EQ(snd.result, sizeof big);
		CHECK(memcmp(big, back, sizeof big) == 0);
	}
	RUN1(ioloop_send_zc(loop, &o.c, 1 << 20, big, 10, on_done, &o));
	CHECK_EQ(o.result, -EBADF);
	CHECK_EQ(ioloop_send_zc(loop, &o.c, cfd, NULL, 10, on_done, &o), IOLOOP_EMISUSE);
	close(cfd);
	close(sfd);
	close(lfd);
	close(pair[0]);
	close(pair[1]);
#undef RUN1
	CHECK_EQ(ioloop_loop_close(loop), 0);
}

/* ---------------------------------------------------------------------- */
/* Chains and link timeouts */

static void test_chains(int backend)
{
	ioloop_loop *loop = new_loop(backend);
	char dir[] = "/tmp/ioloop-capi-chain-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[128];
	snprintf(path, sizeof path, "%s/f", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fd >= 0);

	/* write, fdatasync, read: in order, each after the previous. */
	op w = {0}, s = {0}, r = {0};
	char buf[8] = {0};
	CHECK_EQ(ioloop_chain_begin(loop), 0);
	CHECK_EQ(ioloop_write(loop, &w.c, fd, "chain", 5, 0, on_done, &w), 0);
	CHECK_EQ(ioloop_fdatasync(loop, &s.c, fd, on_done, &s), 0);
	CHECK_EQ(ioloop_read(loop, &r.c, fd, buf, 5, 0, on_done, &r), 0);
	CHECK_EQ(ioloop_run_for(loop, 0), IOLOOP_EMISUSE); /* a chain is open */
	CHECK_EQ(ioloop_chain_end(loop), 0);
	run_until(loop, &r);
	CHECK_EQ(w.calls, 1);
	CHECK_EQ(w.result, 5);
	CHECK_EQ(s.result, 0);
	CHECK_EQ(r.result, 5);
	CHECK(memcmp(buf, "chain", 5) == 0);

	/* A failure breaks the rest of the chain. */
	w.calls = s.calls = r.calls = 0;
	CHECK_EQ(ioloop_chain_begin(loop), 0);
	CHECK_EQ(ioloop_read(loop, &r.c, 1 << 20, buf, 5, 0, on_done, &r), 0);
	CHECK_EQ(ioloop_write(loop, &w.c, fd, "never", 5, 0, on_done, &w), 0);
	CHECK_EQ(ioloop_fsync(loop, &s.c, fd, on_done, &s), 0);
	CHECK_EQ(ioloop_chain_end(loop), 0);
	run_until(loop, &s);
	CHECK_EQ(r.result, -EBADF);
	CHECK_EQ(w.result, IOLOOP_ECHAIN);
	CHECK_EQ(s.result, IOLOOP_ECHAIN);
	CHECK(strstr(ioloop_strerror(IOLOOP_ECHAIN), "chain") != NULL);
	CHECK_EQ(pread(fd, buf, 5, 0), 5);
	CHECK(memcmp(buf, "chain", 5) == 0); /* the write never ran */

	/* A link timeout stops a receive that gets nothing... */
	int pair[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
	op lt = {0};
	r.calls = 0;
	CHECK_EQ(ioloop_chain_begin(loop), 0);
	CHECK_EQ(ioloop_recv(loop, &r.c, pair[0], buf, sizeof buf, on_done, &r), 0);
	CHECK_EQ(ioloop_link_timeout(loop, &lt.c, 10 * 1000000, on_done, &lt), 0);
	CHECK_EQ(ioloop_chain_end(loop), 0);
	int64_t start = now_ns();
	run_until(loop, &lt);
	CHECK(now_ns() - start >= 10 * 1000000);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.result, -ETIMEDOUT);
	CHECK_EQ(lt.result, 0);

	/* ...and is canceled by one that completes first. */
	CHECK_EQ(write(pair[1], "x", 1), 1);
	r.calls = lt.calls = 0;
	CHECK_EQ(ioloop_chain_begin(loop), 0);
	CHECK_EQ(ioloop_recv(loop, &r.c, pair[0], buf, sizeof buf, on_done, &r), 0);
	CHECK_EQ(ioloop_link_timeout(loop, &lt.c, 5000000000ULL, on_done, &lt), 0);
	CHECK_EQ(ioloop_chain_end(loop), 0);
	run_until(loop, &lt);
	CHECK_EQ(r.result, 1);
	CHECK_EQ(lt.result, -ECANCELED);

	/* Misuse: nesting, ending nothing, link timeouts out of place, the
	 * loop's own operations in a chain. Nothing is queued by them. */
	CHECK_EQ(ioloop_chain_end(loop), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_link_timeout(loop, &lt.c, 1, on_done, &lt), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_chain_begin(loop), 0);
	CHECK_EQ(ioloop_chain_begin(loop), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_link_timeout(loop, &lt.c, 1, on_done, &lt), IOLOOP_EMISUSE); /* first */
	CHECK_EQ(ioloop_timeout(loop, &lt.c, 1, on_done, &lt), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_next_tick(loop, &lt.c, on_done, &lt), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_cancel(loop, &lt.c, &r.c, on_done, &lt), IOLOOP_EMISUSE);
	r.calls = lt.calls = 0;
	CHECK_EQ(ioloop_nop(loop, &r.c, on_done, &r), 0);
	CHECK_EQ(ioloop_link_timeout(loop, &lt.c, 1000000000, on_done, &lt), 0);
	op lt2 = {0};
	CHECK_EQ(ioloop_link_timeout(loop, &lt2.c, 1, on_done, &lt2), IOLOOP_EMISUSE); /* after another */
	CHECK_EQ(ioloop_chain_end(loop), 0);
	run_until(loop, &lt);
	CHECK_EQ(r.result, 0);
	CHECK_EQ(lt.result, -ECANCELED);
	CHECK_EQ(lt2.calls, 0);
	CHECK_EQ(ioloop_chain_begin(loop), 0);
	CHECK_EQ(ioloop_chain_end(loop), 0); /* empty: nothing */
	CHECK_EQ(ioloop_loop_pending(loop), 0);

	close(pair[0]);
	close(pair[1]);
	close(fd);
	unlink(path);
	rmdir(dir);
	CHECK_EQ(ioloop_loop_close(loop), 0);

	/* A chain longer than io_uring's submission queue: on io_uring every
	 * operation gets IOLOOP_EMISUSE and none runs; the emulated chains of
	 * epoll have no such bound. */
	ioloop_options opts;
	memset(&opts, 0, sizeof opts);
	opts.backend = (uint32_t)backend;
	opts.entries = 8;
	CHECK_EQ(ioloop_loop_new(&loop, &opts), 0);
	op nops[20];
	memset(nops, 0, sizeof nops);
	CHECK_EQ(ioloop_chain_begin(loop), 0);
	for (int i = 0; i < 20; i++)
		CHECK_EQ(ioloop_nop(loop, &nops[i].c, on_done, &nops[i]), 0);
	CHECK_EQ(ioloop_chain_end(loop), 0);
	CHECK_EQ(ioloop_run(loop), 0);
	for (int i = 0; i < 20; i++) {
		CHECK_EQ(nops[i].calls, 1);
		CHECK_EQ(nops[i].result, backend == IOLOOP_BACKEND_IO_URING ? IOLOOP_EMISUSE : 0);
	}
	char msg[256];
	if (backend == IOLOOP_BACKEND_IO_URING)
		CHECK(ioloop_last_error(loop, msg, sizeof msg) > 0 && strstr(msg, "submission queue") != NULL);
	CHECK_EQ(ioloop_loop_pending(loop), 0);

	/* A chain left open at ioloop_loop_close is submitted and completed. */
	memset(nops, 0, sizeof nops);
	CHECK_EQ(ioloop_chain_begin(loop), 0);
	CHECK_EQ(ioloop_nop(loop, &nops[0].c, on_done, &nops[0]), 0);
	CHECK_EQ(ioloop_loop_close(loop), 0);
	CHECK_EQ(nops[0].calls, 1);
}

/* ---------------------------------------------------------------------- */
/* Buffer pools and multishot operations */

/* What a pooled or multishot operation's callbacks saw. */
typedef struct shots {
	ioloop_completion c;
	ioloop_pool *pool; /* release each buffer at once when set */
	int calls, finals, pending_in_more;
	int32_t results[32];
	int mores[32];
	char data[512];
	size_t len;
	struct sockaddr_storage from;
	socklen_t fromlen;
	void *held; /* the last buffer, when pool is NULL */
} shots;

static void on_shot(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	shots *sh = userdata;
	CHECK(c == &sh->c);
	CHECK(sh->calls < 32);
	int more = ioloop_completion_more(c);
	sh->results[sh->calls] = result;
	sh->mores[sh->calls] = more;
	sh->calls++;
	if (more)
		sh->pending_in_more += ioloop_completion_pending(c);
	else
		sh->finals++;
	void *buf = ioloop_completion_buffer(c);
	CHECK(buf == NULL || result > 0);
	if (buf != NULL) {
		CHECK(sh->len + (size_t)result <= sizeof sh->data);
		memcpy(sh->data + sh->len, buf, (size_t)result);
		sh->len += (size_t)result;
		if (sh->pool != NULL)
			CHECK_EQ(ioloop_pool_release(sh->pool, buf), 0);
		else
			sh->held = buf;
	}
	sh->fromlen = sizeof sh->from;
	if (result >= 0 && ioloop_completion_from(loop, c, &sh->from, &sh->fromlen) != 0)
		sh->fromlen = 0;
}

static void run_until_final(ioloop_loop *loop, shots *sh, int calls)
{
	int64_t deadline = now_ns() + 5000000000LL;
	while (sh->finals == 0 && sh->calls < calls) {
		CHECK(now_ns() < deadline);
		CHECK_EQ(ioloop_run_for(loop, 10 * 1000000), 0);
	}
}

static void test_pools(int backend)
{
	ioloop_loop *loop = new_loop(backend);
	ioloop_pool *pool = NULL;
	CHECK_EQ(ioloop_pool_new(loop, 0, 64, &pool), -EINVAL);
	CHECK(pool == NULL);
	CHECK_EQ(ioloop_pool_new(loop, 4, 1 << 30, &pool), -EINVAL);
	CHECK_EQ(ioloop_pool_new(loop, 4, 64, NULL), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_pool_new(loop, 4, 64, &pool), 0);
	CHECK_EQ(ioloop_pool_free(pool), 4);

	/* recv_pooled: the buffer is the caller's until released. */
	int pair[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
	shots a;
	memset(&a, 0, sizeof a);
	CHECK_EQ(ioloop_recv_pooled(loop, &a.c, pair[0], pool, on_shot, &a), 0);
	CHECK_EQ(write(pair[1], "hello", 5), 5);
	run_until_final(loop, &a, 1);
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(a.results[0], 5);
	CHECK_EQ(a.mores[0], 0);
	CHECK(memcmp(a.data, "hello", 5) == 0);
	CHECK(a.held != NULL);
	CHECK_EQ(ioloop_pool_free(pool), 3);
	CHECK_EQ(ioloop_pool_release(pool, (char *)a.held + 2), 0); /* any pointer inside it */
	CHECK_EQ(ioloop_pool_free(pool), 4);
	CHECK_EQ(ioloop_pool_release(pool, a.held), IOLOOP_EMISUSE); /* twice */
	char foreign[8];
	CHECK_EQ(ioloop_pool_release(pool, foreign), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_pool_release(pool, NULL), IOLOOP_EMISUSE);
	char msg[256];
	CHECK(ioloop_last_error(loop, msg, sizeof msg) > 0 && strstr(msg, "Release") != NULL);

	/* recv_multishot: one submission, a callback per arrival, more = 1,
	 * released in the callback; the peer's shutdown ends it (0, more 0). */
	memset(&a, 0, sizeof a);
	a.pool = pool;
	CHECK_EQ(ioloop_recv_multishot(loop, &a.c, pair[0], pool, on_shot, &a), 0);
	for (int i = 0; i < 3; i++) {
		int before = a.calls;
		CHECK_EQ(write(pair[1], "abc", 3), 3);
		run_until_final(loop, &a, before + 1);
		CHECK(a.calls > before);
		CHECK(ioloop_completion_pending(&a.c));
	}
	CHECK_EQ(a.len, 9);
	CHECK(memcmp(a.data, "abcabcabc", 9) == 0);
	CHECK_EQ(a.pending_in_more, a.calls);
	CHECK_EQ(shutdown(pair[1], SHUT_WR), 0);
	run_until_final(loop, &a, 1000);
	CHECK_EQ(a.finals, 1);
	CHECK_EQ(a.results[a.calls - 1], 0);
	CHECK(!ioloop_completion_pending(&a.c));
	CHECK_EQ(ioloop_pool_free(pool), 4);
	close(pair[0]);
	close(pair[1]);

	/* Several shots of one completion in one pass (12 bytes queued before
	 * the loop runs, buffers of 4 bytes): all delivered, in order. */
	ioloop_pool *small = NULL;
	CHECK_EQ(ioloop_pool_new(loop, 8, 4, &small), 0);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
	memset(&a, 0, sizeof a);
	a.pool = small;
	CHECK_EQ(write(pair[1], "0123456789ab", 12), 12);
	CHECK_EQ(ioloop_recv_multishot(loop, &a.c, pair[0], small, on_shot, &a), 0);
	int64_t deadline = now_ns() + 5000000000LL;
	while (a.len < 12) {
		CHECK(now_ns() < deadline);
		CHECK_EQ(ioloop_run_for(loop, 10 * 1000000), 0);
	}
	CHECK(a.calls >= 3);
	CHECK(memcmp(a.data, "0123456789ab", 12) == 0);
	CHECK_EQ(a.finals, 0);

	/* A pool with receives pending cannot close; cancel ends the
	 * multishot with -ECANCELED, more 0. */
	CHECK_EQ(ioloop_pool_close(small), IOLOOP_EMISUSE);
	op cn = {0};
	CHECK_EQ(ioloop_cancel(loop, &cn.c, &a.c, on_done, &cn), 0);
	run_until(loop, &cn);
	CHECK_EQ(cn.result, 0);
	run_until_final(loop, &a, 1000);
	CHECK_EQ(a.finals, 1);
	CHECK_EQ(a.results[a.calls - 1], -ECANCELED);
	CHECK_EQ(a.mores[a.calls - 1], 0);
	CHECK_EQ(ioloop_pool_close(small), 0);
	CHECK_EQ(ioloop_pool_close(small), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_recv_pooled(loop, &a.c, pair[0], small, on_shot, &a), IOLOOP_EMISUSE); /* closed */
	close(pair[0]);
	close(pair[1]);

	/* recvfrom_multishot: datagrams with their sender. */
	struct sockaddr_storage addr, bound;
	socklen_t addrlen, boundlen;
	CHECK_EQ(ioloop_sockaddr_parse("127.0.0.1:0", &addr, &addrlen), 0);
	int ufd = ioloop_listen_udp((struct sockaddr *)&addr, addrlen, &bound, &boundlen);
	CHECK(ufd >= 0);
	int u2 = ioloop_listen_udp((struct sockaddr *)&addr, addrlen, NULL, NULL);
	CHECK(u2 >= 0);
	memset(&a, 0, sizeof a);
	a.pool = pool;
	CHECK_EQ(ioloop_recvfrom_multishot(loop, &a.c, ufd, pool, on_shot, &a), 0);
	CHECK_EQ(sendto(u2, "one", 3, 0, (struct sockaddr *)&bound, boundlen), 3);
	run_until_final(loop, &a, 1);
	CHECK_EQ(sendto(u2, "two", 3, 0, (struct sockaddr *)&bound, boundlen), 3);
	run_until_final(loop, &a, 2);
	CHECK_EQ(a.calls, 2);
	CHECK(memcmp(a.data, "onetwo", 6) == 0);
	CHECK_EQ(a.mores[1], 1);
	CHECK_EQ(a.fromlen, sizeof(struct sockaddr_in));
	CHECK_EQ(((struct sockaddr_in *)&a.from)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	struct sockaddr_storage tmp;
	socklen_t tmplen;
	CHECK_EQ(ioloop_completion_from(loop, &cn.c, &tmp, &tmplen), IOLOOP_EMISUSE); /* not a recvfrom_multishot */
	cn.calls = 0;
	CHECK_EQ(ioloop_cancel(loop, &cn.c, &a.c, on_done, &cn), 0);
	run_until_final(loop, &a, 1000);
	CHECK_EQ(a.results[a.calls - 1], -ECANCELED);
	run_until(loop, &cn);
	close(ufd);
	close(u2);

	/* accept_multishot: a connection per callback; a socket that does not
	 * listen ends it at once with an error. */
	int lfd = ioloop_listen_tcp((struct sockaddr *)&addr, addrlen, 0, 0, &bound, &boundlen);
	CHECK(lfd >= 0);
	memset(&a, 0, sizeof a);
	CHECK_EQ(ioloop_accept_multishot(loop, &a.c, lfd, on_shot, &a), 0);
	int clients[2];
	op con[2];
	memset(con, 0, sizeof con);
	for (int i = 0; i < 2; i++) {
		clients[i] = ioloop_tcp_socket((struct sockaddr *)&bound, boundlen);
		CHECK_EQ(ioloop_connect(loop, &con[i].c, clients[i], (struct sockaddr *)&bound, boundlen, on_done, &con[i]), 0);
	}
	run_until_final(loop, &a, 2);
	CHECK_EQ(a.calls, 2);
	for (int i = 0; i < 2; i++) {
		CHECK(a.results[i] >= 0);
		CHECK_EQ(a.mores[i], 1);
		close(a.results[i]);
	}
	cn.calls = 0;
	CHECK_EQ(ioloop_cancel(loop, &cn.c, &a.c, on_done, &cn), 0);
	run_until_final(loop, &a, 1000);
	CHECK_EQ(a.results[a.calls - 1], -ECANCELED);
	run_until(loop, &cn);
	CHECK_EQ(ioloop_run(loop), 0);
	memset(&a, 0, sizeof a);
	CHECK_EQ(ioloop_accept_multishot(loop, &a.c, clients[0], on_shot, &a), 0);
	run_until_final(loop, &a, 1000);
	CHECK_EQ(a.calls, 1);
	CHECK(a.results[0] < 0);
	CHECK_EQ(a.mores[0], 0);
	close(clients[0]);
	close(clients[1]);
	close(lfd);

	/* Error paths of the pooled receives; misuse. */
	memset(&a, 0, sizeof a);
	CHECK_EQ(ioloop_recv_pooled(loop, &a.c, 1 << 20, pool, on_shot, &a), 0);
	run_until_final(loop, &a, 1);
	CHECK_EQ(a.results[0], -EBADF);
	CHECK(a.held == NULL);
	CHECK_EQ(ioloop_recv_pooled(loop, &a.c, 0, NULL, on_shot, &a), IOLOOP_EMISUSE);
	ioloop_loop *other = new_loop(backend);
	CHECK_EQ(ioloop_recv_multishot(other, &a.c, 0, pool, on_shot, &a), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_loop_close(other), 0);

	/* Close with a multishot pending: its final callback runs. */
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
	memset(&a, 0, sizeof a);
	a.pool = pool;
	CHECK_EQ(ioloop_recv_multishot(loop, &a.c, pair[0], pool, on_shot, &a), 0);
	CHECK_EQ(ioloop_tick(loop), 0);
	CHECK_EQ(ioloop_loop_close(loop), 0);
	CHECK_EQ(a.finals, 1);
	CHECK_EQ(a.results[a.calls - 1], -ECANCELED);
	close(pair[0]);
	close(pair[1]);
}

/* ---------------------------------------------------------------------- */
/* Registered files and buffers; statistics */

static void test_fixed_stats(int backend)
{
	ioloop_loop *loop = new_loop(backend);
	op o = {0};
#define RUN1(call)                     \
	do {                           \
		o.calls = 0;           \
		CHECK_EQ((call), 0);   \
		run_until(loop, &o);   \
	} while (0)
	char dir[] = "/tmp/ioloop-capi-fixed-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[128];
	snprintf(path, sizeof path, "%s/f", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fd >= 0);

	/* Registered files: transparent; the errors of a second registration,
	 * a closed descriptor, unregistering one that is not registered. */
	CHECK_EQ(ioloop_register_file(loop, fd), 0);
	CHECK_EQ(ioloop_register_file(loop, fd), -EEXIST);
	CHECK_EQ(ioloop_register_file(loop, 1 << 21), -EBADF);
	RUN1(ioloop_write(loop, &o.c, fd, "registered", 10, 0, on_done, &o));
	CHECK_EQ(o.result, 10);

	/* Registered buffers: read_fixed/write_fixed inside them; outside is
	 * -EFAULT; invalid registrations. */
	static char area[2][4096];
	struct iovec regs[2] = {{area[0], sizeof area[0]}, {area[1], sizeof area[1]}};
	CHECK_EQ(ioloop_register_buffers(loop, regs, 0), -EINVAL);
	CHECK_EQ(ioloop_register_buffers(loop, NULL, 1), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_register_buffers(loop, regs, 2), 0);
	memcpy(area[0] + 100, "fixed!", 6);
	RUN1(ioloop_write_fixed(loop, &o.c, fd, area[0] + 100, 6, 10, on_done, &o));
	CHECK_EQ(o.result, 6);
	RUN1(ioloop_read_fixed(loop, &o.c, fd, area[1], 16, 0, on_done, &o));
	CHECK_EQ(o.result, 16);
	CHECK(memcmp(area[1], "registeredfixed!", 16) == 0);
	char outside[16];
	RUN1(ioloop_read_fixed(loop, &o.c, fd, outside, sizeof outside, 0, on_done, &o));
	CHECK_EQ(o.result, -EFAULT);
	RUN1(ioloop_write_fixed(loop, &o.c, 1 << 20, area[0], 4, 0, on_done, &o));
	CHECK_EQ(o.result, -EBADF);
	CHECK_EQ(ioloop_unregister_buffers(loop), 0);
	RUN1(ioloop_read_fixed(loop, &o.c, fd, area[1], 16, 0, on_done, &o));
	CHECK_EQ(o.result, -EFAULT);
	CHECK_EQ(ioloop_unregister_buffers(loop), 0); /* none: fine */

	CHECK_EQ(ioloop_unregister_file(loop, fd), 0);
	CHECK_EQ(ioloop_unregister_file(loop, fd), -ENOENT);
	CHECK_EQ(ioloop_register_file(loop, fd), 0);
	RUN1(ioloop_close(loop, &o.c, fd, on_done, &o)); /* unregisters first */
	CHECK_EQ(o.result, 0);
	CHECK_EQ(ioloop_unregister_file(loop, fd), -ENOENT);
	unlink(path);
	rmdir(dir);

	/* Statistics: the counts follow the operations run. */
	ioloop_stats before, after;
	CHECK_EQ(ioloop_loop_stats(loop, &before), 0);
	uint64_t nop_sub0, nop_done0, sub, done;
	CHECK_EQ(ioloop_loop_stats_op(loop, "Nop", &nop_sub0, &nop_done0), 0);
	op nops[5];
	memset(nops, 0, sizeof nops);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(ioloop_nop(loop, &nops[i].c, on_done, &nops[i]), 0);
	op tm = {0};
	CHECK_EQ(ioloop_timeout(loop, &tm.c, 10ULL * 1000000000, on_done, &tm), 0);
	CHECK_EQ(ioloop_tick(loop), 0);
	CHECK_EQ(ioloop_loop_stats(loop, &after), 0);
	CHECK_EQ(after.timers_pending, 1);
	CHECK(after.in_flight >= 1);
	op cn = {0};
	CHECK_EQ(ioloop_cancel(loop, &cn.c, &tm.c, on_done, &cn), 0);
	CHECK_EQ(ioloop_run(loop), 0);
	CHECK_EQ(ioloop_loop_stats(loop, &after), 0);
	CHECK_EQ(after.submitted - before.submitted, 7);
	CHECK_EQ(after.completed - before.completed, 7);
	CHECK_EQ(after.timers_pending, 0);
	CHECK_EQ(after.in_flight, 0);
	CHECK(after.kernel_enters > before.kernel_enters || backend != IOLOOP_BACKEND_IO_URING);
	CHECK_EQ(after._reserved[0], 0);
	CHECK_EQ(ioloop_loop_stats_op(loop, "Nop", &sub, &done), 0);
	CHECK_EQ(sub - nop_sub0, 5);
	CHECK_EQ(done - nop_done0, 5);
	CHECK_EQ(ioloop_loop_stats_op(loop, "NoSuchOp", &sub, &done), -ENOENT);
	CHECK_EQ(ioloop_loop_stats(loop, NULL), IOLOOP_EMISUSE);
	ioloop_pool *pool;
	CHECK_EQ(ioloop_pool_new(loop, 8, 32, &pool), 0);
	CHECK_EQ(ioloop_loop_stats(loop, &after), 0);
	CHECK_EQ(after.pool_buffers_free, 8);
#undef RUN1
	CHECK_EQ(ioloop_loop_close(loop), 0);
}

/* ---------------------------------------------------------------------- */
/* writev_durable; messages between loops */

typedef struct msg_target {
	ioloop_completion c;
	int calls;
	ioloop_loop *seen;
} msg_target;

static void on_message(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	msg_target *m = userdata;
	CHECK(c == &m->c);
	CHECK_EQ(result, 0);
	m->calls++;
	m->seen = loop;
}

/* A nop callback of the sending loop that messages the other one. */
typedef struct sender {
	op o;
	ioloop_loop *to;
	msg_target *target;
	int rc;
} sender;

static void on_send_message(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	(void)c;
	(void)result;
	sender *s = userdata;
	s->o.calls++;
	s->rc = ioloop_message(loop, s->to, &s->target->c, on_message, s->target);
}

static void test_durable_message(int backend)
{
	ioloop_loop *loop = new_loop(backend);
	char dir[] = "/tmp/ioloop-capi-dur-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[128];
	snprintf(path, sizeof path, "%s/f", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	op o = {0};
	struct iovec v[2] = {{"dura", 4}, {"ble", 3}};
	CHECK_EQ(ioloop_writev_durable(loop, &o.c, fd, v, 2, 0, IOLOOP_FILE_SYNC, on_done, &o), 0);
	run_until(loop, &o);
	CHECK_EQ(o.result, 7);
	char buf[8] = {0};
	CHECK_EQ(pread(fd, buf, 7, 0), 7);
	CHECK(memcmp(buf, "durable", 7) == 0);
	o.calls = 0;
	CHECK_EQ(ioloop_writev_durable(loop, &o.c, 1 << 20, v, 2, 0, IOLOOP_DATA_SYNC, on_done, &o), 0);
	run_until(loop, &o);
	CHECK_EQ(o.result, -EBADF);
	CHECK_EQ(ioloop_writev_durable(loop, &o.c, fd, v, 2, 0, 7, on_done, &o), IOLOOP_EMISUSE);
	close(fd);
	unlink(path);
	rmdir(dir);

	/* A message from a callback of loop to other (both driven here, in
	 * turn): its callback runs on other, with other as its loop. */
	ioloop_options opts;
	memset(&opts, 0, sizeof opts);
	opts.backend = (uint32_t)backend;
	opts.inbox_entries = 4;
	ioloop_loop *other = NULL;
	CHECK_EQ(ioloop_loop_new(&other, &opts), 0);
	msg_target m;
	memset(&m, 0, sizeof m);
	sender s;
	memset(&s, 0, sizeof s);
	s.to = other;
	s.target = &m;
	CHECK_EQ(ioloop_nop(loop, &s.o.c, on_send_message, &s), 0);
	CHECK_EQ(ioloop_run(loop), 0);
	CHECK_EQ(s.o.calls, 1);
	CHECK_EQ(s.rc, 0);
	CHECK(ioloop_completion_pending(&m.c));
	int64_t deadline = now_ns() + 5000000000LL;
	while (m.calls == 0) {
		CHECK(now_ns() < deadline);
		CHECK_EQ(ioloop_run_for(other, 10 * 1000000), 0);
	}
	CHECK_EQ(m.calls, 1);
	CHECK(m.seen == other);

	/* A full inbox: -EAGAIN, and nothing queued. */
	msg_target many[16];
	memset(many, 0, sizeof many);
	int queued = 0, rc = 0;
	for (int i = 0; i < 16; i++) {
		rc = ioloop_message(loop, other, &many[i].c, on_message, &many[i]);
		if (rc != 0)
			break;
		queued++;
	}
	CHECK_EQ(rc, -EAGAIN);
	CHECK(!ioloop_completion_pending(&many[queued].c));
	CHECK_EQ(ioloop_tick(loop), 0);
	CHECK_EQ(ioloop_run_for(other, 1000000), 0);
	for (int i = 0; i < queued; i++)
		CHECK_EQ(many[i].calls, 1);
	CHECK_EQ(ioloop_message(loop, NULL, &m.c, on_message, &m), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_message(loop, other, &m.c, NULL, &m), IOLOOP_EMISUSE);
	CHECK_EQ(ioloop_loop_close(other), 0);
	CHECK_EQ(ioloop_loop_close(loop), 0);
}

static void on_cancelled_resubmit(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	closing *cl = userdata;
	on_done(loop, c, result, &cl->timer);
	cl->late_rc = ioloop_nop(loop, &cl->late.c, on_done, &cl->late);
}

static void test_close_in_flight(int backend)
{
	ioloop_loop *loop = new_loop(backend);
	closing *cl = calloc(1, sizeof *cl);
	struct sockaddr_storage addr;
	socklen_t addrlen;
	CHECK_EQ(ioloop_sockaddr_parse("127.0.0.1:0", &addr, &addrlen), 0);
	int lfd = ioloop_listen_tcp((struct sockaddr *)&addr, addrlen, 0, 0, NULL, NULL);
	CHECK(lfd >= 0);
	int pair[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair), 0);
	static char buf[64];
	CHECK_EQ(ioloop_accept(loop, &cl->accept.c, lfd, on_done, &cl->accept), 0);
	CHECK_EQ(ioloop_recv(loop, &cl->recv.c, pair[0], buf, sizeof buf, on_done, &cl->recv), 0);
	CHECK_EQ(ioloop_timeout(loop, &cl->timer.c, 60ULL * 1000000000, on_cancelled_resubmit, cl), 0);
	CHECK_EQ(ioloop_run_for(loop, 5 * 1000000), 0); /* all three in flight */
	CHECK_EQ(ioloop_nop(loop, &cl->nop.c, on_done, &cl->nop), 0); /* still on the C list */
	CHECK_EQ(ioloop_loop_pending(loop), 4);
	CHECK_EQ(ioloop_loop_close(loop), 0);
	CHECK_EQ(cl->accept.calls, 1);
	CHECK_EQ(cl->accept.result, -ECANCELED);
	CHECK_EQ(cl->recv.calls, 1);
	CHECK_EQ(cl->recv.result, -ECANCELED);
	CHECK_EQ(cl->timer.calls, 1);
	CHECK_EQ(cl->timer.result, -ECANCELED);
	CHECK_EQ(cl->nop.calls, 1);
	CHECK(cl->nop.result == 0 || cl->nop.result == -ECANCELED);
	CHECK_EQ(cl->late_rc, 0);
	CHECK_EQ(cl->late.calls, 1);
	CHECK_EQ(cl->late.result, IOLOOP_ECLOSED);
	close(lfd);
	close(pair[0]);
	close(pair[1]);
	free(cl);
}

/* ---------------------------------------------------------------------- */

static void run_all(int backend)
{
	backend_label = ioloop_backend_name(backend);
	ioloop_options opts;
	memset(&opts, 0, sizeof opts);
	opts.backend = (uint32_t)backend;
	ioloop_loop *probe;
	int rc = ioloop_loop_new(&probe, &opts);
	if (rc != 0) {
		char msg[256];
		ioloop_last_error(NULL, msg, sizeof msg);
		printf("skip %s: %s (%s)\n", backend_label, ioloop_strerror(rc), msg);
		return;
	}
	ioloop_loop_close(probe);
	int before = checks;
	test_lifecycle(backend);
	test_locked_thread(backend);
	test_nop_timers_cancel(backend);
	test_misuse(backend);
	test_cross_thread(backend);
	test_net(backend);
	test_files(backend);
	test_statx_msg_zc(backend);
	test_chains(backend);
	test_pools(backend);
	test_fixed_stats(backend);
	test_durable_message(backend);
	test_close_in_flight(backend);
	printf("ok %s: %d checks\n", backend_label, checks - before);
}

int main(void)
{
	run_all(IOLOOP_BACKEND_IO_URING);
	run_all(IOLOOP_BACKEND_EPOLL);
	printf("PASS\n");
	return 0;
}
