/*
 * nop_dispatch.c - C reference baseline for io_uring NOPs that does the same
 * per-operation work as the ioloop Go event loop.
 *
 * bench/c/nop_liburing.c measures the kernel plus the thinnest possible
 * user-space loop: prep N SQEs, one submit_and_wait(N), advance the CQ.
 * It has no per-operation bookkeeping at all, so "ioloop vs nop_liburing"
 * mixes two costs: that of a completion/callback design, and that of Go.
 * This program pays the first and not the second: it is a small C event
 * loop in the TigerBeetle style, shaped like ioloop's (loop.go,
 * backend_uring_linux.go), driven exactly like `ioloop bench nop`
 * (cmd/ioloop/bench_nop.go):
 *
 *   - struct completion is caller-owned and intrusive: a next link, the
 *     callback and its context, opcode, state and result;
 *   - submit() validates the completion's state, records the callback, and
 *     writes the SQE at once when the SQ has room and nothing is queued
 *     before it, else appends the completion to an overflow FIFO;
 *   - run() repeats one pass until nothing is pending:
 *       1. run the callbacks of the completed FIFO, taking the whole FIFO
 *          first, so completions reaped meanwhile wait for the next pass;
 *       2. flush: drain the overflow FIFO into the SQ;
 *       3. one io_uring_enter that submits everything and waits for one
 *          completion only when no callback is ready to run;
 *       4. reap every CQE into the completed FIFO (result and state are
 *          stored in the completion; the callback does not run yet).
 *   - the benchmark keeps `batch` completions in flight; each callback
 *     resubmits its own completion until `count` NOPs have completed.
 *
 * Differences from the Go loop, deliberately kept:
 *   - user_data is the completion pointer (as in C and Zig loops). ioloop
 *     stores a generation-tagged slot index and resolves it through
 *     inflightTable, because Go's garbage collector cannot see pointers
 *     held by the kernel (inflight.go). That table is therefore counted as
 *     a cost of Go here, not of the design.
 *   - the Go loop's per-callback check for early file-op flushing
 *     (Options.FileSubmitBatch) and its Send/Cancel special cases have no
 *     counterpart: NOPs never reach them beyond one predictable branch.
 *
 * Ring setup matches ioloop's (uringSetupFlags): SUBMIT_ALL | COOP_TASKRUN |
 * TASKRUN_FLAG | NO_SQARRAY, each step falling back to fewer flags on
 * EINVAL, always with CLAMP, SQ size max(batch, 128), CQ twice the SQ.
 * liburing 2.3 predates NO_SQARRAY: io_uring_queue_init_params() fills the
 * SQ index array at p->sq_off.array, which is 0 with NO_SQARRAY, so it
 * would overwrite the SQ ring's head/tail words. With NO_SQARRAY this
 * program therefore calls io_uring_setup itself and maps the rings with
 * io_uring_queue_mmap(), which only records the (unused) array pointer;
 * liburing 2.3's submit path never writes the array. The mapped ring is
 * sanity-checked and the setup falls back to the next flag set if it looks
 * wrong. -v prints the flags in use to stderr.
 *
 * Build: gcc -O2 -Wall -o /tmp/nop_dispatch bench/c/nop_dispatch.c -luring
 * Usage: nop_dispatch [-batch N] [-count N] [-entries N] [-plain-ring] [-json] [-v]
 *   -entries     SQ size (default max(batch, 128), as `ioloop bench nop`);
 *                smaller than -batch exercises the overflow FIFO.
 *   -plain-ring  set the ring up like nop_liburing.c (io_uring_queue_init,
 *                no flags) instead of with ioloop's flags, to tell the
 *                effect of the ring flags from that of the dispatch;
 *                reported as name=c_liburing_nop_dispatch_plain.
 *
 * Output (one line):
 *   name=c_liburing_nop_dispatch batch=128 ops=10000000 ops_per_sec=12345678 cpu_us_per_op=0.081
 * or, with -json, the same fields as one JSON object.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Newer than liburing 2.3's headers (Linux 6.6). */
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif

#define NAME "nop_dispatch"
#define MIN_RING_ENTRIES 128
#define MAX_BATCH 32768 /* IORING_MAX_ENTRIES */

static void die(const char *what, int err)
{
	fprintf(stderr, NAME ": %s: %s\n", what, strerror(err));
	exit(1);
}

static void panic_msg(const char *msg)
{
	fprintf(stderr, NAME ": internal error: %s\n", msg);
	abort();
}

/* ------------------------------------------------------------------------
 * Completions and intrusive FIFOs (fifo.go)
 * ------------------------------------------------------------------------ */

enum op { OP_NOP = 1 };

/* Same states as completionState in completion.go. */
enum state {
	STATE_IDLE = 0,   /* not submitted, or its callback has started */
	STATE_QUEUED,     /* in the overflow FIFO, waiting for SQ room */
	STATE_IN_FLIGHT,  /* SQE written; the kernel has it or will at enter */
	STATE_COMPLETED,  /* result known, in the completed FIFO */
};

struct completion;
typedef void (*callback_fn)(void *ctx, struct completion *c, int32_t res);

/*
 * Caller-owned record of one operation. Hot fields only (NOP needs no
 * arguments); aligned to a cache line so a batch of completions touches one
 * line each, like the hot head of ioloop's Completion.
 */
struct completion {
	struct completion *next; /* link in exactly one FIFO at a time */
	callback_fn callback;
	void *ctx;
	int32_t result; /* kernel's res: a value, or a negated errno */
	uint8_t op;
	uint8_t state;
} __attribute__((aligned(64)));

struct fifo {
	struct completion *head, *tail;
	size_t size;
};

static inline int fifo_empty(const struct fifo *q) { return q->head == NULL; }

static inline void fifo_push(struct fifo *q, struct completion *c)
{
	/* The same double-queue check as fifo.push in Go. */
	if (__builtin_expect(c->next != NULL || q->tail == c, 0))
		panic_msg("completion pushed onto two queues");
	if (q->tail == NULL)
		q->head = c;
	else
		q->tail->next = c;
	q->tail = c;
	q->size++;
}

static inline struct completion *fifo_pop(struct fifo *q)
{
	struct completion *c = q->head;

	if (c == NULL)
		return NULL;
	q->head = c->next;
	if (q->head == NULL)
		q->tail = NULL;
	c->next = NULL;
	q->size--;
	return c;
}

/* Move every element into the returned FIFO and leave q empty. */
static inline struct fifo fifo_take_all(struct fifo *q)
{
	struct fifo all = *q;

	q->head = q->tail = NULL;
	q->size = 0;
	return all;
}

/* ------------------------------------------------------------------------
 * The loop (loop.go + backend_uring_linux.go, NOP path)
 * ------------------------------------------------------------------------ */

struct loop {
	struct io_uring ring;
	unsigned setup_flags;
	struct fifo overflow;  /* submitted, waiting for room in the SQ */
	struct fifo completed; /* result known, callback not yet run */
	long long pending;     /* submitted, result not known yet */
	int in_callback;
};

/* Fill sqe for c and move c in flight (uringBackend.prep). */
static inline void loop_prep(struct io_uring_sqe *sqe, struct completion *c)
{
	c->state = STATE_IN_FLIGHT;
	switch (c->op) {
	case OP_NOP:
		io_uring_prep_nop(sqe); /* writes every SQE field */
		break;
	default:
		panic_msg("cannot prepare unknown op");
	}
	io_uring_sqe_set_data(sqe, c); /* user_data = the completion itself */
}

/*
 * Submit c (Loop.prepare + Loop.submit + uringBackend.submit): write its SQE
 * now when the SQ has room and nothing is queued before it, else queue it.
 * The SQE reaches the kernel at the next enter in loop_run.
 */
static inline void loop_submit(struct loop *l, struct completion *c,
			       uint8_t op, void *ctx, callback_fn cb)
{
	struct io_uring_sqe *sqe;

	if (__builtin_expect(c == NULL || cb == NULL || c->state != STATE_IDLE, 0))
		panic_msg("submit: nil completion/callback, or completion still in use");
	c->op = op;
	c->ctx = ctx;
	c->callback = cb;
	c->state = STATE_QUEUED;
	l->pending++;
	if (fifo_empty(&l->overflow)) {
		sqe = io_uring_get_sqe(&l->ring);
		if (sqe) {
			loop_prep(sqe, c);
			return;
		}
	}
	fifo_push(&l->overflow, c);
}

static inline void nop(struct loop *l, struct completion *c, void *ctx,
		       callback_fn cb)
{
	loop_submit(l, c, OP_NOP, ctx, cb);
}

/* io_uring_enter errors that are part of normal operation (transientEnterError). */
static int transient(int err)
{
	return err == EINTR || err == ETIME || err == EAGAIN || err == EBUSY;
}

/* Move every ready CQE's completion to the completed FIFO (uringBackend.reap). */
static void loop_reap(struct loop *l)
{
	struct io_uring *ring = &l->ring;
	int flush;

	for (flush = 0;; flush++) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		io_uring_for_each_cqe(ring, head, cqe) {
			struct completion *c = io_uring_cqe_get_data(cqe);

			c->result = cqe->res;
			c->state = STATE_COMPLETED;
			l->pending--;
			fifo_push(&l->completed, c);
			seen++;
		}
		io_uring_cq_advance(ring, seen); /* one head store per batch */
		/* Completions the kernel buffered because the CQ was full: ask
		 * it to post them (bounded, like maxOverflowFlushes). */
		if (!io_uring_cq_has_overflow(ring) || flush == 64)
			return;
		int ret = io_uring_get_events(ring);
		if (ret < 0 && !transient(-ret))
			die("io_uring_get_events", -ret);
	}
}

/*
 * Drain the overflow FIFO into the SQ, submitting whenever it fills, until
 * it is empty or the kernel pushes back (uringBackend.drainOverflow).
 */
static void loop_flush(struct loop *l)
{
	while (!fifo_empty(&l->overflow)) {
		unsigned moved = 0;
		struct io_uring_sqe *sqe;
		int ret;

		while (!fifo_empty(&l->overflow) &&
		       (sqe = io_uring_get_sqe(&l->ring)) != NULL) {
			loop_prep(sqe, fifo_pop(&l->overflow));
			moved++;
		}
		if (fifo_empty(&l->overflow))
			return;
		ret = io_uring_submit(&l->ring);
		if (ret < 0 && !transient(-ret))
			die("io_uring_submit", -ret);
		loop_reap(l); /* so a long overflow cannot overflow the CQ */
		if (moved == 0 && ret <= 0)
			return; /* the kernel pushes back; retry on the next pass */
	}
}

/*
 * Run the callbacks of everything completed so far (Loop.runCompleted).
 * The FIFO is taken whole first: completions reaped by a later pass, and
 * completions a callback produces, wait for the next pass, so a callback
 * that resubmits itself cannot starve the kernel.
 */
static void loop_run_completed(struct loop *l)
{
	struct fifo draining;
	struct completion *c;

	if (fifo_empty(&l->completed))
		return;
	draining = fifo_take_all(&l->completed);
	l->in_callback = 1;
	while ((c = fifo_pop(&draining)) != NULL) {
		/* Idle before the callback, so it may resubmit c. */
		c->state = STATE_IDLE;
		c->callback(c->ctx, c, c->result);
	}
	l->in_callback = 0;
}

/*
 * One poll (uringBackend.poll): flush, then one io_uring_enter that
 * submits everything written and - only when no callback is ready and no
 * CQE is waiting - waits for one completion; then reap.
 */
static void loop_poll(struct loop *l, int may_wait)
{
	struct io_uring *ring = &l->ring;
	int ret;

	loop_flush(l);
	if (may_wait && fifo_empty(&l->completed) && io_uring_cq_ready(ring) == 0) {
		/* Publishes the SQ tail and makes one io_uring_enter(to_submit,
		 * min_complete=1, GETEVENTS): exactly what the Go loop does. */
		ret = io_uring_submit_and_wait(ring, 1);
	} else {
		/* Submit without waiting; liburing enters only when there is
		 * something to submit or the kernel flags pending task work or
		 * CQ overflow, as the Go loop does. */
		ret = io_uring_submit(ring);
	}
	if (ret < 0 && !transient(-ret))
		die("io_uring_enter", -ret);
	loop_reap(l);
}

/* Run until no operation is pending and every callback has run (Loop.Run). */
static void loop_run(struct loop *l)
{
	if (l->in_callback)
		panic_msg("run called from a callback");
	for (;;) {
		loop_run_completed(l);
		if (l->pending == 0 && fifo_empty(&l->completed))
			return;
		loop_poll(l, fifo_empty(&l->completed));
	}
}

/* ------------------------------------------------------------------------
 * Ring setup: ioloop's flags and fallbacks (setupRing)
 * ------------------------------------------------------------------------ */

static const unsigned setup_flags[] = {
	IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
		IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_NO_SQARRAY,
	IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
		IORING_SETUP_TASKRUN_FLAG,
	IORING_SETUP_SUBMIT_ALL,
	0,
};

/* A freshly mapped ring must have empty queues and the geometry the kernel
 * reported; a clobbered SQ header would show here. */
static int ring_looks_sane(struct io_uring *ring, const struct io_uring_params *p)
{
	return *ring->sq.khead == 0 && *ring->sq.ktail == 0 &&
	       *ring->cq.khead == 0 && *ring->cq.ktail == 0 &&
	       *ring->sq.kring_entries == p->sq_entries &&
	       *ring->sq.kring_mask == p->sq_entries - 1 &&
	       *ring->cq.kring_entries == p->cq_entries &&
	       *ring->cq.kring_mask == p->cq_entries - 1 &&
	       ring->sq.ring_entries == p->sq_entries &&
	       ring->cq.ring_entries == p->cq_entries;
}

/* Returns 0, or a negated errno; EINVAL means "try fewer flags". */
static int setup_ring_with(struct io_uring *ring, unsigned entries, unsigned flags)
{
	struct io_uring_params p;
	int fd, ret;

	memset(&p, 0, sizeof(p));
	p.flags = flags | IORING_SETUP_CLAMP;
	if (!(flags & IORING_SETUP_NO_SQARRAY))
		return io_uring_queue_init_params(entries, ring, &p);

	/* NO_SQARRAY: see the header comment for why not queue_init_params. */
	fd = (int)syscall(__NR_io_uring_setup, entries, &p);
	if (fd < 0)
		return -errno;
	ret = io_uring_queue_mmap(fd, &p, ring);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	ring->features = p.features;
	if (!ring_looks_sane(ring, &p)) {
		fprintf(stderr, NAME ": ring mapped with NO_SQARRAY looks wrong; "
			"falling back\n");
		io_uring_queue_exit(ring);
		return -EINVAL;
	}
	return 0;
}

static unsigned setup_ring(struct io_uring *ring, unsigned entries, int plain)
{
	size_t i;
	int ret = -EINVAL;

	if (plain) {
		ret = io_uring_queue_init(entries, ring, 0);
		if (ret < 0)
			die("io_uring_queue_init", -ret);
		return 0;
	}
	for (i = 0; i < sizeof(setup_flags) / sizeof(setup_flags[0]); i++) {
		ret = setup_ring_with(ring, entries, setup_flags[i]);
		if (ret == 0)
			return setup_flags[i];
		if (ret != -EINVAL)
			break;
	}
	die("io_uring setup", -ret);
	return 0;
}

/* ------------------------------------------------------------------------
 * The benchmark (cmd/ioloop/bench_nop.go)
 * ------------------------------------------------------------------------ */

struct nop_bench {
	struct loop *loop;
	long long remaining; /* NOPs still to submit */
	int err;             /* first error, as a positive errno */
};

/* Each callback resubmits its own completion until remaining runs out. */
static void on_nop(void *ctx, struct completion *c, int32_t res)
{
	struct nop_bench *b = ctx;

	if (res < 0) {
		if (b->err == 0)
			b->err = -res;
		return;
	}
	if (b->remaining > 0) {
		b->remaining--;
		nop(b->loop, c, b, on_nop);
	}
}

static void usage_exit(const char *msg)
{
	if (msg)
		fprintf(stderr, NAME ": %s\n", msg);
	fprintf(stderr, "usage: " NAME " [-batch N (1..%d)] [-count N] "
		"[-entries N (1..%d)] [-plain-ring] [-json] [-v]\n", MAX_BATCH, MAX_BATCH);
	exit(2);
}

/* Parse a strictly positive decimal integer; reject junk like "12x" or "". */
static long long parse_pos(const char *flag, const char *s)
{
	char *end;
	long long v;

	if (!s) {
		fprintf(stderr, NAME ": missing value for %s\n", flag);
		exit(2);
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0' || v <= 0) {
		fprintf(stderr, NAME ": invalid value for %s: '%s'\n", flag, s);
		exit(2);
	}
	return v;
}

static double now_sec(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die("clock_gettime(CLOCK_MONOTONIC)", errno);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User + system CPU time consumed by this process so far, in seconds. */
static double cpu_sec(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		die("getrusage(RUSAGE_SELF)", errno);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
	long long batch = 128, count = 10000000, entries_flag = 0, in_flight, i;
	int json = 0, verbose = 0, plain_ring = 0, a;
	unsigned entries;
	static struct loop loop;
	struct nop_bench bench;
	struct completion *completions;
	double t0, t1, c0, c1, wall, cpu, ops_per_sec, cpu_us_per_op;
	const char *name;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "-batch") == 0)
			batch = parse_pos("-batch", argv[++a]);
		else if (strcmp(argv[a], "-count") == 0)
			count = parse_pos("-count", argv[++a]);
		else if (strcmp(argv[a], "-entries") == 0)
			entries_flag = parse_pos("-entries", argv[++a]);
		else if (strcmp(argv[a], "-plain-ring") == 0)
			plain_ring = 1;
		else if (strcmp(argv[a], "-json") == 0)
			json = 1;
		else if (strcmp(argv[a], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[a], "-h") == 0 || strcmp(argv[a], "-help") == 0)
			usage_exit(NULL);
		else {
			fprintf(stderr, NAME ": unknown argument '%s'\n", argv[a]);
			usage_exit(NULL);
		}
	}
	if (batch > MAX_BATCH)
		usage_exit("-batch too large");
	if (entries_flag > MAX_BATCH)
		usage_exit("-entries too large");

	/* Same geometry as `ioloop bench nop`: SQ max(batch, 128), CQ 2x. */
	entries = batch > MIN_RING_ENTRIES ? (unsigned)batch : MIN_RING_ENTRIES;
	if (entries_flag)
		entries = (unsigned)entries_flag;
	loop.setup_flags = setup_ring(&loop.ring, entries, plain_ring);
	if (verbose)
		fprintf(stderr, NAME ": setup flags 0x%x (NO_SQARRAY %s, COOP_TASKRUN %s), "
			"sq=%u cq=%u\n", loop.setup_flags,
			loop.setup_flags & IORING_SETUP_NO_SQARRAY ? "on" : "off",
			loop.setup_flags & IORING_SETUP_COOP_TASKRUN ? "on" : "off",
			loop.ring.sq.ring_entries, loop.ring.cq.ring_entries);

	in_flight = batch < count ? batch : count;
	bench.loop = &loop;
	bench.remaining = count - in_flight;
	bench.err = 0;
	completions = aligned_alloc(64, (size_t)in_flight * sizeof(*completions));
	if (!completions)
		die("aligned_alloc", ENOMEM);
	memset(completions, 0, (size_t)in_flight * sizeof(*completions));

	/* Timed like the Go benchmark: from the first submission to the end
	 * of run(), not ring setup or teardown. */
	c0 = cpu_sec();
	t0 = now_sec();
	for (i = 0; i < in_flight; i++)
		nop(&loop, &completions[i], &bench, on_nop);
	loop_run(&loop);
	t1 = now_sec();
	c1 = cpu_sec();

	io_uring_queue_exit(&loop.ring);
	free(completions);
	if (bench.err)
		die("NOP completion", bench.err);

	wall = t1 - t0;
	cpu = c1 - c0;
	if (wall <= 0) {
		fprintf(stderr, NAME ": run too short to time; raise -count\n");
		return 1;
	}
	ops_per_sec = (double)count / wall;
	cpu_us_per_op = cpu * 1e6 / (double)count;

	/* -plain-ring results get their own name so they cannot be mistaken
	 * for (or summarized with) the ioloop-flags baseline. */
	name = plain_ring ? "c_liburing_nop_dispatch_plain" : "c_liburing_nop_dispatch";
	if (json)
		printf("{\"name\":\"%s\",\"batch\":%lld,\"ops\":%lld,"
		       "\"ops_per_sec\":%.0f,\"cpu_us_per_op\":%.3f}\n",
		       name, batch, count, ops_per_sec, cpu_us_per_op);
	else
		printf("name=%s batch=%lld ops=%lld ops_per_sec=%.0f "
		       "cpu_us_per_op=%.3f\n",
		       name, batch, count, ops_per_sec, cpu_us_per_op);

	if (fflush(stdout) != 0)
		die("writing output", errno);
	return 0;
}
