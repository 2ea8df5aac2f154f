/*
 * testsupport.c: C halves of the Go tests in capi_test.go (cgo is not
 * allowed in _test.go files, so the tests call these through
 * testsupport.go). Each round_* function runs one steady-state round of
 * an operation on a loop that the previous rounds warmed up; the Go test
 * counts the allocations a round makes (testing.AllocsPerRun).
 * The symbols are prefixed ioloop__test_ and are not part of ioloop.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
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
	ioloop_completion send, recv, wait;
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
