/*
 * nop_bench.c: NOP dispatch through the C API, the C twin of
 * `ioloop bench nop`: batch NOPs in flight, every callback resubmits its
 * own completion until count have completed; prints one line
 * "c_nop backend=B batch=N ops=N ops_per_sec=X cpu_us_per_op=Y".
 *
 *     ./nop_bench [-batch 128] [-count 10000000] [-backend auto|io_uring|epoll]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ioloop.h"

static long long remaining;
static int failed;

static void on_nop(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata)
{
	(void)userdata;
	if (result != 0) {
		failed = result;
		return;
	}
	if (remaining > 0) {
		remaining--;
		ioloop_nop(loop, c, on_nop, NULL);
	}
}

static double seconds(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

int main(int argc, char **argv)
{
	long long batch = 128, count = 10000000;
	int backend = IOLOOP_BACKEND_AUTO;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-batch") == 0)
			batch = atoll(argv[i + 1]);
		else if (strcmp(argv[i], "-count") == 0)
			count = atoll(argv[i + 1]);
		else if (strcmp(argv[i], "-backend") == 0)
			backend = strcmp(argv[i + 1], "epoll") == 0 ? IOLOOP_BACKEND_EPOLL
				  : strcmp(argv[i + 1], "io_uring") == 0 ? IOLOOP_BACKEND_IO_URING
									: IOLOOP_BACKEND_AUTO;
		else {
			fprintf(stderr, "usage: nop_bench [-batch N] [-count N] [-backend auto|io_uring|epoll]\n");
			return 2;
		}
	}
	if (batch < 1 || count < batch) {
		fprintf(stderr, "nop_bench: need 1 <= batch <= count\n");
		return 2;
	}
	ioloop_options opts = {0};
	opts.backend = (uint32_t)backend;
	opts.entries = batch > 128 ? (uint32_t)batch : 128; /* as `ioloop bench nop` sizes its ring */
	ioloop_loop *loop;
	int rc = ioloop_loop_new(&loop, &opts);
	if (rc != 0) {
		fprintf(stderr, "nop_bench: %s\n", ioloop_strerror(rc));
		return 1;
	}
	ioloop_completion *cs = calloc((size_t)batch, sizeof *cs);
	remaining = count - batch;

	struct timespec t0, t1;
	struct rusage r0, r1;
	getrusage(RUSAGE_SELF, &r0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long long i = 0; i < batch; i++)
		ioloop_nop(loop, &cs[i], on_nop, NULL);
	rc = ioloop_run(loop);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &r1);
	if (rc != 0 || failed != 0) {
		fprintf(stderr, "nop_bench: %s\n", ioloop_strerror(rc != 0 ? rc : failed));
		return 1;
	}
	double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	double cpu = seconds(r1.ru_utime) - seconds(r0.ru_utime) + seconds(r1.ru_stime) - seconds(r0.ru_stime);
	printf("c_nop backend=%s batch=%lld ops=%lld ops_per_sec=%.0f cpu_us_per_op=%.3f\n",
	       ioloop_backend_name(ioloop_loop_backend(loop)), batch, count, (double)count / wall, cpu * 1e6 / (double)count);
	ioloop_loop_close(loop);
	free(cs);
	return 0;
}
