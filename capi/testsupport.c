/*
 * testsupport.c: C halves of the Go tests in capi_test.go (cgo is not
 * allowed in _test.go files, so the tests call these through
 * testsupport.go). Each round_* function runs one steady-state round of
 * an operation on a loop that the previous rounds warmed up; the Go test
 * counts the allocations a round makes (testing.AllocsPerRun).
 * The symbols are prefixed ioloop__test_ and are not part of ioloop.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ioloop_impl.h"

enum { BATCH = 128 };

typedef struct test_state {
	ioloop_loop *loop;
	ioloop_event *ev;
	int remaining;
	int failures;
	int fds[2];
	int file;
	char buf[64];
	ioloop_completion cs[BATCH];
	ioloop_completion send, recv, wait, extra, cancel;
	ioloop_pool *pool;
	struct statx stx;
	struct iovec siov[2], riov[2];
	struct msghdr smsg, rmsg;
} test_state;

test_state *ioloop__test_new(int backend)
{
	test_state *t = calloc(1, sizeof *t);
	ioloop_options opts = {0};
	opts.backend = (uint32_t)backend;
	if (ioloop_loop_new(&t->loop, &opts) != 0) {
		free(t);
		return NULL;
	}
	t->ev = ioloop_event_new(t->loop);
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, t->fds);
	t->file = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	ioloop_pool_new(t->loop, 16, 64, &t->pool);
	return t;
}

int ioloop__test_failures(test_state *t) { return t->failures; }

void ioloop__test_free(test_state *t)
{
	ioloop_loop_close(t->loop);
	close(t->fds[0]);
	close(t->fds[1]);
	close(t->file);
	free(t);
}

static void on_nop(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	test_state *t = userdata;
	if (result != 0)
		t->failures++;
	if (t->remaining > 0) {
		t->remaining--;
		ioloop_nop(loop, c, on_nop, t);
	}
}

/* One round: BATCH NOPs in flight, 4 * BATCH completed. */
int ioloop__test_round_nop(test_state *t)
{
	t->remaining = 3 * BATCH;
	for (int i = 0; i < BATCH; i++)
		ioloop_nop(t->loop, &t->cs[i], on_nop, t);
	return ioloop_run(t->loop);
}

static void on_timer(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	(void)loop;
	(void)c;
	test_state *t = userdata;
	if (result != 0 && result != -ECANCELED)
		t->failures++;
}

/* One round: 16 timers, half of them canceled. */
int ioloop__test_round_timers(test_state *t)
{
	for (int i = 0; i < 16; i++)
		ioloop_timeout(t->loop, &t->cs[i], i % 2 ? 1000 : 10ULL * 1000000000, on_timer, t);
	for (int i = 0; i < 16; i += 2)
		ioloop_cancel(t->loop, &t->cs[16 + i], &t->cs[i], on_timer, t);
	return ioloop_run(t->loop);
}

static void on_io(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	(void)loop;
	(void)c;
	test_state *t = userdata;
	if (result <= 0)
		t->failures++;
}

/* One round: a send and a receive on a socketpair, and a file read. */
int ioloop__test_round_io(test_state *t)
{
	ioloop_recv(t->loop, &t->recv, t->fds[1], t->buf, 32, on_io, t);
	ioloop_send(t->loop, &t->send, t->fds[0], "0123456789abcdef0123456789abcdef", 32, on_io, t);
	ioloop_read(t->loop, &t->cs[0], t->file, t->buf + 32, 32, 0, on_io, t);
	return ioloop_run(t->loop);
}

static void on_posted(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	(void)c;
	test_state *t = userdata;
	if (result != 0)
		t->failures++;
	ioloop_event_trigger(t->ev);
	(void)loop;
}

static void on_wait(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	(void)loop;
	(void)c;
	test_state *t = userdata;
	if (result < 1)
		t->failures++;
}

/* One round: a post whose callback triggers an event that a wait waits on. */
int ioloop__test_round_post(test_state *t)
{
	ioloop_wait_event(t->loop, &t->wait, t->ev, on_wait, t);
	if (ioloop_post(t->loop, &t->cs[0], on_posted, t) != 0)
		t->failures++;
	return ioloop_run(t->loop);
}

static void on_ok(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	(void)loop;
	(void)c;
	test_state *t = userdata;
	if (result < 0)
		t->failures++;
}

/* One round: statx, a sendmsg/recvmsg pair with two iovecs each, and a
 * send_zc with its receive. */
int ioloop__test_round_msg(test_state *t)
{
	ioloop_statx(t->loop, &t->extra, AT_FDCWD, "/proc/self/exe", 0, STATX_BASIC_STATS, &t->stx, on_ok, t);
	t->siov[0] = (struct iovec){"0123456789abcdef", 16};
	t->siov[1] = (struct iovec){"0123456789abcdef", 16};
	memset(&t->smsg, 0, sizeof t->smsg);
	t->smsg.msg_iov = t->siov;
	t->smsg.msg_iovlen = 2;
	t->riov[0] = (struct iovec){t->buf, 16};
	t->riov[1] = (struct iovec){t->buf + 16, 16};
	memset(&t->rmsg, 0, sizeof t->rmsg);
	t->rmsg.msg_iov = t->riov;
	t->rmsg.msg_iovlen = 2;
	ioloop_recvmsg(t->loop, &t->recv, t->fds[1], &t->rmsg, on_io, t);
	ioloop_sendmsg(t->loop, &t->send, t->fds[0], &t->smsg, on_io, t);
	int rc = ioloop_run(t->loop);
	if (rc != 0)
		return rc;
	ioloop_recv(t->loop, &t->recv, t->fds[1], t->buf, 32, on_io, t);
	ioloop_send_zc(t->loop, &t->send, t->fds[0], "0123456789abcdef0123456789abcdef", 32, on_io, t);
	return ioloop_run(t->loop);
}

static void on_link_timeout(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	(void)loop;
	(void)c;
	test_state *t = userdata;
	if (result != -ECANCELED)
		t->failures++;
}

/* One round: a chain of a send, a receive and the receive's link timeout
 * (which the receive beats). */
int ioloop__test_round_chain(test_state *t)
{
	ioloop_chain_begin(t->loop);
	ioloop_send(t->loop, &t->send, t->fds[0], "0123456789abcdef0123456789abcdef", 32, on_io, t);
	ioloop_recv(t->loop, &t->recv, t->fds[1], t->buf, 32, on_io, t);
	ioloop_link_timeout(t->loop, &t->extra, 10ULL * 1000000000, on_link_timeout, t);
	ioloop_chain_end(t->loop);
	return ioloop_run(t->loop);
}

static void on_pooled(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	test_state *t = userdata;
	void *buf = ioloop_completion_buffer(c);
	if (buf != NULL && ioloop_pool_release(t->pool, buf) != 0)
		t->failures++;
	if (ioloop_completion_more(c)) {
		if (result <= 0 || buf == NULL)
			t->failures++;
		ioloop_cancel(loop, &t->cancel, c, on_ok, t); /* ends the multishot: its final callback follows */
	} else if (c == &t->recv && (result <= 0 || buf == NULL)) {
		t->failures++;
	} else if (c == &t->extra && result != -ECANCELED) {
		t->failures++;
	}
}

/* One round: a pooled receive, then a multishot receive's shot and its
 * cancel; buffers released in the callbacks. */
int ioloop__test_round_pooled(test_state *t)
{
	if (t->pool == NULL)
		return -1;
	ioloop_recv_pooled(t->loop, &t->recv, t->fds[1], t->pool, on_pooled, t);
	ioloop_send(t->loop, &t->send, t->fds[0], "0123456789abcdef0123456789abcdef", 32, on_io, t);
	int rc = ioloop_run(t->loop);
	if (rc != 0)
		return rc;
	ioloop_recv_multishot(t->loop, &t->extra, t->fds[1], t->pool, on_pooled, t);
	ioloop_send(t->loop, &t->send, t->fds[0], "0123456789abcdef0123456789abcdef", 32, on_io, t);
	return ioloop_run(t->loop);
}
