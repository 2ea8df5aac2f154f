/*
 * nop_liburing.c - C reference baseline for io_uring NOP dispatch rate.
 *
 * Measures how fast plain liburing can push IORING_OP_NOP requests through
 * the kernel, so the Go event loop can be compared with "what C gets on the
 * same machine". Each round:
 *
 *   1. take N SQEs and prep them as NOPs,
 *   2. io_uring_submit_and_wait(ring, N)  -> exactly one io_uring_enter()
 *      syscall that both submits and waits for all N completions,
 *   3. reap the N CQEs with io_uring_peek_batch_cqe + io_uring_cq_advance,
 *
 * until -count operations have completed. The final round is shorter when
 * count is not a multiple of batch, so exactly `count` ops are performed.
 *
 * Build: gcc -O2 -o /tmp/nop_liburing bench/c/nop_liburing.c -luring
 * Usage: nop_liburing [-batch N] [-count N] [-json]
 *
 * Output (one line):
 *   name=c_liburing_nop batch=128 ops=10000000 ops_per_sec=12345678 cpu_us_per_op=0.081
 * or, with -json, the same fields as one JSON object.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define MIN_RING_ENTRIES 128
/* Kernel limit for SQ entries (IORING_MAX_ENTRIES); larger batches cannot
 * be submitted in one go, so reject them up front with a clear message. */
#define MAX_BATCH 32768

static void die(const char *what, int err)
{
	fprintf(stderr, "nop_liburing: %s: %s\n", what, strerror(err));
	exit(1);
}

static void usage_exit(const char *msg)
{
	if (msg)
		fprintf(stderr, "nop_liburing: %s\n", msg);
	fprintf(stderr, "usage: nop_liburing [-batch N (1..%d)] [-count N] [-json]\n",
		MAX_BATCH);
	exit(2);
}

/* Parse a strictly positive decimal integer; reject junk like "12x" or "". */
static long long parse_pos(const char *flag, const char *s)
{
	char *end;
	long long v;

	if (!s) {
		fprintf(stderr, "nop_liburing: missing value for %s\n", flag);
		exit(2);
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0' || v <= 0) {
		fprintf(stderr, "nop_liburing: invalid value for %s: '%s'\n", flag, s);
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

/* One round: submit n NOPs with a single syscall, wait for and reap all n. */
static void run_round(struct io_uring *ring, struct io_uring_cqe **cqes,
		      unsigned n)
{
	unsigned i, reaped = 0;
	int ret;

	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		/* Cannot happen while n <= ring size and the SQ is drained
		 * every round, but a NULL deref would be a silent crash. */
		if (!sqe) {
			fprintf(stderr, "nop_liburing: SQ full after %u of %u SQEs\n",
				i, n);
			exit(1);
		}
		io_uring_prep_nop(sqe);
	}

	ret = io_uring_submit_and_wait(ring, n);
	if (ret < 0)
		die("io_uring_submit_and_wait", -ret);
	if ((unsigned)ret != n) {
		fprintf(stderr, "nop_liburing: submitted %d of %u SQEs\n", ret, n);
		exit(1);
	}

	/* submit_and_wait returned, so all n CQEs are normally already posted;
	 * loop anyway in case peek returns them in more than one chunk. */
	while (reaped < n) {
		unsigned got = io_uring_peek_batch_cqe(ring, cqes, n - reaped);

		if (got == 0) {
			/* Should not happen; block for one rather than spin. */
			struct io_uring_cqe *cqe;

			ret = io_uring_wait_cqe(ring, &cqe);
			if (ret < 0)
				die("io_uring_wait_cqe", -ret);
			continue;
		}
		for (i = 0; i < got; i++) {
			if (cqes[i]->res < 0)
				die("NOP completion", -cqes[i]->res);
		}
		io_uring_cq_advance(ring, got);
		reaped += got;
	}
}

int main(int argc, char **argv)
{
	long long batch = 128, count = 10000000, done = 0;
	int json = 0, i, ret;
	unsigned entries;
	struct io_uring ring;
	struct io_uring_cqe **cqes;
	double t0, t1, c0, c1, wall, cpu, ops_per_sec, cpu_us_per_op;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-batch") == 0)
			batch = parse_pos("-batch", argv[++i]);
		else if (strcmp(argv[i], "-count") == 0)
			count = parse_pos("-count", argv[++i]);
		else if (strcmp(argv[i], "-json") == 0)
			json = 1;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "-help") == 0)
			usage_exit(NULL);
		else {
			fprintf(stderr, "nop_liburing: unknown argument '%s'\n", argv[i]);
			usage_exit(NULL);
		}
	}
	if (batch > MAX_BATCH)
		usage_exit("-batch too large");

	/* Ring of at least 128 entries so small batches run on the same ring
	 * geometry a real loop would use; the kernel sizes the CQ at 2x SQ, so
	 * n <= entries in-flight NOPs can never overflow the CQ. */
	entries = batch > MIN_RING_ENTRIES ? (unsigned)batch : MIN_RING_ENTRIES;
	ret = io_uring_queue_init(entries, &ring, 0);
	if (ret < 0)
		die("io_uring_queue_init", -ret);

	cqes = calloc((size_t)batch, sizeof(*cqes));
	if (!cqes)
		die("calloc", ENOMEM);

	/* Time only the submit/reap loop, not ring setup or teardown. */
	c0 = cpu_sec();
	t0 = now_sec();
	while (done < count) {
		long long left = count - done;
		unsigned n = (unsigned)(left < batch ? left : batch);

		run_round(&ring, cqes, n);
		done += n;
	}
	t1 = now_sec();
	c1 = cpu_sec();

	io_uring_queue_exit(&ring);
	free(cqes);

	wall = t1 - t0;
	cpu = c1 - c0;
	if (wall <= 0) {
		fprintf(stderr, "nop_liburing: run too short to time; raise -count\n");
		return 1;
	}
	ops_per_sec = (double)count / wall;
	cpu_us_per_op = cpu * 1e6 / (double)count;

	if (json)
		printf("{\"name\":\"c_liburing_nop\",\"batch\":%lld,\"ops\":%lld,"
		       "\"ops_per_sec\":%.0f,\"cpu_us_per_op\":%.3f}\n",
		       batch, count, ops_per_sec, cpu_us_per_op);
	else
		printf("name=c_liburing_nop batch=%lld ops=%lld ops_per_sec=%.0f "
		       "cpu_us_per_op=%.3f\n",
		       batch, count, ops_per_sec, cpu_us_per_op);

	/* A failed write to stdout (e.g. closed pipe, full disk) is an error. */
	if (fflush(stdout) != 0)
		die("writing output", errno);
	return 0;
}
