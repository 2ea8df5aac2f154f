/*
 * ioloop.h: the C API of ioloop (libioloop), a completion-based I/O event
 * loop on io_uring, epoll or kqueue.
 *
 * Build the library from the repository root with one command:
 *
 *     go build -buildmode=c-shared  -o libioloop.so ./capi     (shared)
 *     go build -buildmode=c-archive -o libioloop.a  ./capi     (static)
 *
 * and compile against this header (capi/ioloop.h):
 *
 *     cc -I capi prog.c -L . -lioloop -Wl,-rpath,'$ORIGIN'
 *
 * The library is written in Go (package capi is its only cgo code; the
 * ioloop package itself is pure Go). This header is written by hand: it is
 * the stable interface, and no Go type appears in it. Linux only for now.
 *
 * ------------------------------------------------------------------------
 * THE MODEL
 *
 * You hand the loop an operation ("receive into this buffer", "wake me in
 * 10 ms") together with an ioloop_completion you own, a callback and a
 * userdata pointer. The loop submits operations to the kernel in batches
 * and calls you back exactly once per submission (a multishot operation:
 * once per result, the last one marked final; see BUFFER POOLS AND
 * MULTISHOT OPERATIONS), with a result:
 *
 *     result >= 0   success: a byte count, a file descriptor, an event
 *                   count, or 0;
 *     result <  0   a negative errno (-ECONNRESET, -ENOENT, ...), as in
 *                   io_uring, or one of the IOLOOP_E* codes below.
 *
 * A receive or read of a non-empty buffer that reports 0 means end of file
 * (the peer closed), as recv(2) and read(2) say.
 *
 * Every operation function returns 0 when the operation was accepted, in
 * which case its callback will run exactly once (multishot: until a final
 * callback), or a negative code when it was refused at once
 * (IOLOOP_EMISUSE for a programming error), in which case no callback
 * runs. Errors of the operation itself (a bad descriptor,
 * an invalid argument the kernel would reject) are delivered through the
 * callback, never returned.
 *
 * ------------------------------------------------------------------------
 * COMPLETIONS: CALLER-OWNED, NO ALLOCATION PER OPERATION
 *
 * An ioloop_completion is 128 bytes of opaque storage that you embed in
 * your own structures (a connection, a request). Zeroed memory is an idle
 * completion (IOLOOP_COMPLETION_INIT, ioloop_completion_init, calloc, or a
 * static). A completion is reusable as soon as its callback starts (a
 * multishot operation's: its final callback): the callback may submit it
 * again. It must not be submitted while pending,
 * moved, or freed while pending (ioloop_completion_pending tells).
 *
 * How it maps to the Go side: the library's Go code keeps, per loop, a
 * table of Go ioloop.Completion values ("slots"). The first time a C
 * completion is used with a loop, a slot is allocated and its index and
 * the loop's id are written into the completion's reserved room; every
 * later operation on that completion reuses the slot, so steady state
 * allocates nothing (proven by TestAllocs* in capi, testing.AllocsPerRun).
 * C memory never holds a Go pointer (the cgo rules): the reserved room
 * holds integers, C pointers (your callback, userdata, buffers, the queue
 * link) and the operation's arguments. A slot lives until its loop closes;
 * ioloop_completion_release returns it early, for programs that free many
 * completions over a loop's life. A completion used with a second loop gets
 * a slot there too.
 *
 * Submitting does not cross into Go: the operation functions are plain C
 * that record the arguments in the completion and append it to the loop's
 * submission list. The next ioloop_run_for, ioloop_run or ioloop_tick hands
 * the whole list to Go. Results come back the same way: one call from Go
 * into C per pass of the loop delivers every result of that pass, and a C
 * loop runs the callbacks. The cost of the boundary is therefore per pass,
 * not per operation (see docs/BENCHMARKS.md, "The C API").
 *
 * ------------------------------------------------------------------------
 * THREADS
 *
 * - One loop per thread. A loop is driven by one thread at a time
 *   (ioloop_run_for, ioloop_run, ioloop_tick, ioloop_loop_close), and every
 *   operation function and ioloop_completion_* function is called on that
 *   thread. Callbacks run on that thread, inside ioloop_run_for,
 *   ioloop_run, ioloop_tick or ioloop_loop_close.
 * - Callable from any thread, at any time until ioloop_loop_close returns:
 *   ioloop_post, ioloop_event_trigger, ioloop_stop. They never block and
 *   never allocate.
 * - Callbacks may submit operations (to their loop), post, trigger and
 *   stop, but must not drive the loop or close it: those return
 *   IOLOOP_EMISUSE from a callback.
 * - With IOLOOP_OPT_LOCKED_THREAD the thread that creates the loop must be
 *   the only one that ever drives it (on io_uring the ring then uses
 *   SINGLE_ISSUER and DEFER_TASKRUN); another thread driving it gets
 *   IOLOOP_EMISUSE.
 *
 * A Go panic never unwinds through C frames: every entry into Go recovers
 * and reports IOLOOP_EMISUSE (a programming error the Go API would have
 * panicked on) or IOLOOP_EINTERNAL (a bug), and ioloop_last_error gives the
 * message.
 */
#ifndef IOLOOP_H
#define IOLOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* Result codes beyond the negative errno values. Their range, -4100 to
 * -4199, is far from any errno. */

/* A programming error, refused before anything happened: a NULL argument, a
 * completion that is still pending, a loop that is closed, driving a loop
 * from one of its callbacks or from two threads at once. */
#define IOLOOP_EMISUSE (-4100)
/* The operation was submitted while the loop was closing (from a callback
 * run by ioloop_loop_close), or ioloop_post after close began. */
#define IOLOOP_ECLOSED (-4101)
/* A bug inside the library: a Go panic caught at the boundary. */
#define IOLOOP_EINTERNAL (-4102)
/* The kernel interface failed while the loop ran (io_uring_enter or
 * epoll_wait returned an unexpected error); ioloop_last_error says which. */
#define IOLOOP_EBACKEND (-4103)
/* The operation never ran: an earlier operation of its chain failed, was
 * short or was canceled (see CHAINS). */
#define IOLOOP_ECHAIN (-4104)

/* ---------------------------------------------------------------------- */
/* Types */

/* A loop. Opaque; created by ioloop_loop_new, freed by ioloop_loop_close. */
typedef struct ioloop_loop ioloop_loop;

/* A caller-owned completion: 128 bytes, 8-byte aligned, opaque. Zeroed
 * memory is an idle completion. See COMPLETIONS above. */
typedef struct ioloop_completion {
	uint64_t _reserved[16];
} ioloop_completion;

/* Static initializer for an idle completion. */
#define IOLOOP_COMPLETION_INIT {{0}}

/* The one callback shape of every operation. result is the operation's
 * result (>= 0) or a negative error code; userdata is the pointer given to
 * the operation. The completion is idle when the callback starts. */
typedef void (*ioloop_callback)(ioloop_loop *loop, ioloop_completion *c, int32_t result, void *userdata);

/* An event: a wakeup any thread can trigger, which completes a waiting
 * ioloop_wait_event on the loop's thread. Opaque; owned by its loop. */
typedef struct ioloop_event ioloop_event;

/* Backends. */
enum {
	IOLOOP_BACKEND_AUTO = 0,     /* io_uring if it can be set up, else epoll (kqueue on BSD) */
	IOLOOP_BACKEND_IO_URING = 1, /* Linux io_uring, 5.11+ */
	IOLOOP_BACKEND_EPOLL = 2,    /* Linux epoll plus a worker pool for files */
	IOLOOP_BACKEND_KQUEUE = 3    /* kqueue plus a worker pool for files */
};

/* Option flags (ioloop_options.flags). */
#define IOLOOP_OPT_LOCKED_THREAD 0x1u /* see THREADS above */

/* Loop options. Zero means the default for every field; pass NULL to
 * ioloop_loop_new for all defaults. */
typedef struct ioloop_options {
	/* IOLOOP_BACKEND_*. With AUTO the environment variable IOLOOP_BACKEND
	 * (io_uring, epoll, auto) may force one. */
	uint32_t backend;
	/* Submission queue size, rounded up to a power of two; default 256,
	 * maximum 32768. It bounds batching, not concurrency. */
	uint32_t entries;
	/* Readiness backends: how many file operations run at once on the
	 * worker pool; default 64. io_uring ignores it. */
	uint32_t file_workers;
	/* How many ioloop_post callbacks may wait; default 1024, max 1<<20. */
	uint32_t inbox_entries;
	/* How much later than its deadline a timer may fire to share a wake-up;
	 * 0: the default (1 ms); negative: none. */
	int64_t timer_slack_ns;
	/* IOLOOP_OPT_* flags. */
	uint32_t flags;
	/* io_uring's completion queue size; default twice entries, at least
	 * entries (-EINVAL otherwise). It bounds batching only: the kernel
	 * buffers what does not fit. The other backends ignore it. */
	uint32_t completion_entries;
	/* Must be zero (room to grow without changing the struct's size). */
	uint32_t _reserved[6];
} ioloop_options;

/* ---------------------------------------------------------------------- */
/* Errors */

/* Returns a static, NUL-terminated description of a result code: an errno
 * (given negative, as callbacks receive it) or an IOLOOP_E* code. Never
 * NULL; thread-safe; the string lives forever. For result >= 0 it returns
 * "success". */
const char *ioloop_strerror(int32_t result);

/* Copies the message of the last IOLOOP_EMISUSE, IOLOOP_EINTERNAL or
 * IOLOOP_EBACKEND that a call on this loop's thread returned (loop-driving
 * calls and ioloop_loop_new record it; loop may be NULL for the latter)
 * into buf, NUL-terminated and truncated to len, and returns the message's
 * full length (0: none). Loop thread only. */
size_t ioloop_last_error(ioloop_loop *loop, char *buf, size_t len);

/* ---------------------------------------------------------------------- */
/* Loop lifecycle */

/* Creates a loop. Stores it in *out and returns 0, or returns a negative
 * errno and leaves *out NULL: -EINVAL for an invalid option, -ENOSYS or
 * -EPERM when the backend asked for explicitly cannot be set up (its
 * reason: ioloop_last_error(NULL, ...)). The calling thread becomes the
 * loop's thread. */
int ioloop_loop_new(ioloop_loop **out, const ioloop_options *opts);

/* Closes a loop: cancels every pending operation, waits until the kernel
 * has finished with them, and runs every outstanding callback (canceled
 * operations get -ECANCELED unless they completed first; operations
 * submitted from those callbacks get IOLOOP_ECLOSED), then frees the loop
 * and its events. The loop pointer is invalid afterwards, and so are its
 * events; other threads must not call ioloop_post, ioloop_stop or
 * ioloop_event_trigger on it once this returns (while it runs they get
 * IOLOOP_ECLOSED or do nothing). Returns 0, IOLOOP_EMISUSE (NULL, from a
 * callback, or while another thread drives the loop; nothing happened) or
 * IOLOOP_EBACKEND (the loop is freed anyway). */
int ioloop_loop_close(ioloop_loop *loop);

/* The backend the loop runs on: IOLOOP_BACKEND_IO_URING, _EPOLL or _KQUEUE. */
int ioloop_loop_backend(ioloop_loop *loop);

/* The backend's name ("io_uring", "epoll", "kqueue", "auto"), or
 * "unknown". Static string. */
const char *ioloop_backend_name(int backend);

/* Why IOLOOP_BACKEND_AUTO did not get io_uring (a seccomp profile,
 * kernel.io_uring_disabled, an old kernel): copies the reason into buf,
 * NUL-terminated and truncated to len, and returns its full length, or 0
 * when io_uring was selected or the backend was chosen explicitly. */
size_t ioloop_loop_fallback_reason(ioloop_loop *loop, char *buf, size_t len);

/* Runs the loop for timeout_ns nanoseconds: submits what is queued, waits
 * for completions (never while callbacks are ready), runs callbacks, and
 * repeats until the time has passed or ioloop_stop is called. A negative
 * timeout_ns does one non-blocking pass; INT64_MAX runs until ioloop_stop.
 * Returns 0, IOLOOP_EMISUSE (from a callback, another thread, a closed
 * loop) or IOLOOP_EBACKEND. */
int ioloop_run_for(ioloop_loop *loop, int64_t timeout_ns);

/* One non-blocking pass: submits what is queued, reaps what has completed
 * and runs the ready callbacks. Returns as ioloop_run_for. */
int ioloop_tick(ioloop_loop *loop);

/* Runs until no operation is pending (every submitted operation's callback
 * has run) or ioloop_stop is called. A pending ioloop_wait_event counts as
 * pending. Returns as ioloop_run_for. */
int ioloop_run(ioloop_loop *loop);

/* Makes the running ioloop_run_for or ioloop_run return after its current
 * pass (or the next one, if none runs). Any thread; does nothing once the
 * loop is closing. Each call ends at most one run. */
void ioloop_stop(ioloop_loop *loop);

/* The number of submitted operations whose callbacks have not run yet,
 * including those not yet handed to the kernel. Loop thread only. */
uint32_t ioloop_loop_pending(ioloop_loop *loop);

/* ---------------------------------------------------------------------- */
/* Completions */

/* Makes *c an idle completion (zeroes it). Not for a pending completion. */
void ioloop_completion_init(ioloop_completion *c);

/* 1 when c is submitted and its callback has not started, else 0. */
int ioloop_completion_pending(const ioloop_completion *c);

/* The result the last callback of c received (0 before any). */
int32_t ioloop_completion_result(const ioloop_completion *c);

/* Returns c's Go-side slot to loop, before freeing c's memory, for programs
 * that free many completions while the loop lives (a closed loop frees all
 * its slots anyway). Returns 0, or IOLOOP_EMISUSE if c is pending. Loop
 * thread only. c is an idle completion afterwards. */
int ioloop_completion_release(ioloop_loop *loop, ioloop_completion *c);

/* ---------------------------------------------------------------------- */
/* Operations. Each returns 0 (accepted: the callback runs exactly once) or
 * IOLOOP_EMISUSE (loop, c or cb NULL, c pending, loop closed; nothing
 * happens). Buffers, iovec arrays and sockaddrs must stay valid until the
 * callback runs; paths are copied at submission. Loop thread only. */

/* Completes with 0 after a round trip through the kernel (an io_uring NOP;
 * at once on the readiness backends). */
int ioloop_nop(ioloop_loop *loop, ioloop_completion *c, ioloop_callback cb, void *userdata);

/* Completes with 0 in the loop's next pass, without the kernel. */
int ioloop_next_tick(ioloop_loop *loop, ioloop_completion *c, ioloop_callback cb, void *userdata);

/* Completes with 0 once timeout_ns nanoseconds have passed (never early;
 * up to the timer slack late), or -ECANCELED. A timer costs no system
 * call: the loop keeps a heap. */
int ioloop_timeout(ioloop_loop *loop, ioloop_completion *c, uint64_t timeout_ns, ioloop_callback cb, void *userdata);

/* Cancels target, a completion submitted on this loop. target's callback
 * then runs with -ECANCELED, unless it completed first (with its own
 * result). The cancel's own callback gets 0 when target was canceled, or
 * -ENOENT when target was not pending. target must not be c. */
int ioloop_cancel(ioloop_loop *loop, ioloop_completion *c, ioloop_completion *target, ioloop_callback cb, void *userdata);

/* Accepts a connection on the non-blocking listening socket listen_fd;
 * result: the new socket (non-blocking, close-on-exec) or -errno. */
int ioloop_accept(ioloop_loop *loop, ioloop_completion *c, int listen_fd, ioloop_callback cb, void *userdata);

/* Connects the non-blocking socket fd to addr (AF_INET, AF_INET6 or
 * AF_UNIX; the IPv6 scope id is ignored); result 0 or -errno (-EAFNOSUPPORT
 * for another family, -EINVAL for a short addrlen). addr is read at
 * submission. */
int ioloop_connect(ioloop_loop *loop, ioloop_completion *c, int fd, const struct sockaddr *addr, socklen_t addrlen,
		   ioloop_callback cb, void *userdata);

/* Receives up to len bytes into buf; result: the count, 0 at end of stream,
 * or -errno. */
int ioloop_recv(ioloop_loop *loop, ioloop_completion *c, int fd, void *buf, size_t len, ioloop_callback cb, void *userdata);

/* Sends all len bytes of buf (the loop continues short sends); result: len,
 * or -errno (bytes sent before an error or a cancel are not reported). len
 * must be at most INT32_MAX: a larger one completes with -EINVAL. */
int ioloop_send(ioloop_loop *loop, ioloop_completion *c, int fd, const void *buf, size_t len, ioloop_callback cb, void *userdata);

/* Sends one datagram of len bytes to addr (AF_INET or AF_INET6); result:
 * the count sent, or -errno. */
int ioloop_sendto(ioloop_loop *loop, ioloop_completion *c, int fd, const void *buf, size_t len, const struct sockaddr *addr,
		  socklen_t addrlen, ioloop_callback cb, void *userdata);

/* Receives one datagram into buf; result: its length or -errno. When from
 * is not NULL, the sender is written there (a sockaddr_in or sockaddr_in6)
 * and its length in *fromlen (which, on input, is from's size) before the
 * callback runs. */
int ioloop_recvfrom(ioloop_loop *loop, ioloop_completion *c, int fd, void *buf, size_t len, struct sockaddr *from,
		    socklen_t *fromlen, ioloop_callback cb, void *userdata);

/* shutdown(2) with how = SHUT_RD, SHUT_WR or SHUT_RDWR; result 0 or -errno. */
int ioloop_shutdown(ioloop_loop *loop, ioloop_completion *c, int fd, int how, ioloop_callback cb, void *userdata);

/* Closes the descriptor fd; result 0 or -errno. */
int ioloop_close(ioloop_loop *loop, ioloop_completion *c, int fd, ioloop_callback cb, void *userdata);

/* Reads up to len bytes at offset (-1: the file position); result: the
 * count, 0 at end of file, or -errno. */
int ioloop_read(ioloop_loop *loop, ioloop_completion *c, int fd, void *buf, size_t len, int64_t offset, ioloop_callback cb,
		void *userdata);

/* Writes len bytes at offset (-1: the file position); result: the count
 * (possibly short, as pwrite(2)) or -errno. */
int ioloop_write(ioloop_loop *loop, ioloop_completion *c, int fd, const void *buf, size_t len, int64_t offset,
		 ioloop_callback cb, void *userdata);

/* Vectored read and write (preadv/pwritev); iov (iovcnt entries, at most
 * IOV_MAX) stays valid until the callback. */
int ioloop_readv(ioloop_loop *loop, ioloop_completion *c, int fd, const struct iovec *iov, int iovcnt, int64_t offset,
		 ioloop_callback cb, void *userdata);
int ioloop_writev(ioloop_loop *loop, ioloop_completion *c, int fd, const struct iovec *iov, int iovcnt, int64_t offset,
		  ioloop_callback cb, void *userdata);

/* Durability of ioloop_write_durable. */
enum {
	IOLOOP_DATA_SYNC = 1, /* the data (and the size) durable: write + fdatasync, RWF_DSYNC */
	IOLOOP_FILE_SYNC = 2  /* all metadata too: write + fsync, RWF_SYNC */
};

/* A write that is durable when the callback runs, in one request;
 * durability is IOLOOP_DATA_SYNC or IOLOOP_FILE_SYNC (another value is
 * IOLOOP_EMISUSE). */
int ioloop_write_durable(ioloop_loop *loop, ioloop_completion *c, int fd, const void *buf, size_t len, int64_t offset,
			 int durability, ioloop_callback cb, void *userdata);

/* ioloop_writev, durable when the callback runs, as ioloop_write_durable
 * (io_uring's WRITEV with RWF_DSYNC/RWF_SYNC, or pwritev2 with the flag);
 * another durability is IOLOOP_EMISUSE. */
int ioloop_writev_durable(ioloop_loop *loop, ioloop_completion *c, int fd, const struct iovec *iov, int iovcnt,
			  int64_t offset, int durability, ioloop_callback cb, void *userdata);

/* fsync(2) and fdatasync(2); result 0 or -errno. */
int ioloop_fsync(ioloop_loop *loop, ioloop_completion *c, int fd, ioloop_callback cb, void *userdata);
int ioloop_fdatasync(ioloop_loop *loop, ioloop_completion *c, int fd, ioloop_callback cb, void *userdata);

/* openat(2) (O_CLOEXEC is always added); result: the descriptor or -errno. */
int ioloop_openat(ioloop_loop *loop, ioloop_completion *c, int dirfd, const char *path, int flags, uint32_t mode,
		  ioloop_callback cb, void *userdata);

/* fallocate(2) (mode 0 allocates; FALLOC_FL_* as Linux defines them) and
 * ftruncate(2); result 0 or -errno. */
int ioloop_fallocate(ioloop_loop *loop, ioloop_completion *c, int fd, uint32_t mode, int64_t offset, int64_t length,
		     ioloop_callback cb, void *userdata);
int ioloop_ftruncate(ioloop_loop *loop, ioloop_completion *c, int fd, int64_t length, ioloop_callback cb, void *userdata);

/* Flags of ioloop_renameat. */
#define IOLOOP_RENAME_NOREPLACE 0x1u /* fail with -EEXIST if newpath exists */
#define IOLOOP_RENAME_EXCHANGE 0x2u  /* swap the two paths atomically */

/* renameat2(2), unlinkat(2) (flags 0 or AT_REMOVEDIR), mkdirat(2),
 * linkat(2), symlinkat(2); result 0 or -errno. */
int ioloop_renameat(ioloop_loop *loop, ioloop_completion *c, int olddirfd, const char *oldpath, int newdirfd,
		    const char *newpath, uint32_t flags, ioloop_callback cb, void *userdata);
int ioloop_unlinkat(ioloop_loop *loop, ioloop_completion *c, int dirfd, const char *path, int flags, ioloop_callback cb,
		    void *userdata);
int ioloop_mkdirat(ioloop_loop *loop, ioloop_completion *c, int dirfd, const char *path, uint32_t mode, ioloop_callback cb,
		   void *userdata);
int ioloop_linkat(ioloop_loop *loop, ioloop_completion *c, int olddirfd, const char *oldpath, int newdirfd,
		  const char *newpath, int flags, ioloop_callback cb, void *userdata);
int ioloop_symlinkat(ioloop_loop *loop, ioloop_completion *c, const char *target, int newdirfd, const char *linkpath,
		     ioloop_callback cb, void *userdata);

/* posix_fadvise(2) and (Linux) sync_file_range(2); result 0 or -errno. */
int ioloop_fadvise(ioloop_loop *loop, ioloop_completion *c, int fd, int64_t offset, int64_t length, int advice,
		   ioloop_callback cb, void *userdata);
int ioloop_sync_file_range(ioloop_loop *loop, ioloop_completion *c, int fd, int64_t offset, int64_t length,
			   unsigned int flags, ioloop_callback cb, void *userdata);

/* statx(2): fills *stat (struct statx of <sys/stat.h> with _GNU_SOURCE,
 * or <linux/stat.h>) with the status of path relative to dirfd; flags such
 * as AT_EMPTY_PATH or AT_SYMLINK_NOFOLLOW, mask such as STATX_BASIC_STATS.
 * Result 0 or -errno. stat must stay valid and untouched until the
 * callback; path is copied at submission. NULL path or stat is
 * IOLOOP_EMISUSE. Linux only, as statx(2) is. */
struct statx;
int ioloop_statx(ioloop_loop *loop, ioloop_completion *c, int dirfd, const char *path, int flags, unsigned int mask,
		 struct statx *stat, ioloop_callback cb, void *userdata);

/* sendmsg(2) of one message on the socket fd: the data of msg->msg_iov
 * (msg_iovlen entries, at most IOV_MAX), the control (ancillary) data
 * msg->msg_control (msg_controllen bytes, built with CMSG_FIRSTHDR and
 * friends: SCM_RIGHTS, IP_PKTINFO, ...), to msg->msg_name (a sockaddr_in
 * or sockaddr_in6 of msg_namelen bytes) or, with msg_name NULL, to the
 * address the socket is connected to (the only choice on a unix socket:
 * another msg_name family completes with -EAFNOSUPPORT). msg_flags is
 * ignored (MSG_NOSIGNAL is always used). Result: the bytes sent, or
 * -errno. msg, its iovecs, buffers and control data stay valid until the
 * callback. A NULL msg, or msg_iov NULL with msg_iovlen > 0, is
 * IOLOOP_EMISUSE. */
int ioloop_sendmsg(ioloop_loop *loop, ioloop_completion *c, int fd, const struct msghdr *msg, ioloop_callback cb,
		   void *userdata);

/* recvmsg(2) of one message into msg->msg_iov, in order, and its control
 * data into msg->msg_control (msg_controllen bytes of room). Result: the
 * bytes copied, or -errno. Before the callback runs, on success, the
 * library writes back into *msg as recvmsg(2) does:
 *   - msg_controllen: the bytes of control data written (walk them with
 *     CMSG_FIRSTHDR/CMSG_NXTHDR);
 *   - msg_flags: MSG_TRUNC when the datagram was longer than the iovecs
 *     (the rest is lost), MSG_CTRUNC when control data did not fit;
 *   - msg_name (when not NULL) and msg_namelen: the sender, as a
 *     sockaddr_in or sockaddr_in6 (an IPv4 sender seen by an IPv6 socket
 *     is written as sockaddr_in); msg_namelen 0 when the sender has no IP
 *     address (a unix socket) or msg_namelen was too small for it.
 * On error *msg is left as it was. msg, its iovecs, buffers and control
 * room stay valid until the callback. */
int ioloop_recvmsg(ioloop_loop *loop, ioloop_completion *c, int fd, struct msghdr *msg, ioloop_callback cb,
		   void *userdata);

/* ioloop_send without the copy: the kernel sends from buf's own pages
 * (io_uring's IORING_OP_SEND_ZC, Linux 6.0+). Results as ioloop_send; the
 * callback runs only once the kernel has let go of buf (on a real network
 * possibly when the peer acknowledged the data), and buf must not be
 * modified until then. A cancel of a send whose data is queued answers
 * -ENOENT: its callback waits for the kernel's notification, and so does
 * ioloop_loop_close. Where the kernel or the socket family has no
 * zero-copy path (before 6.0, AF_UNIX, the epoll backend) it is
 * ioloop_send. On loopback it is slower than ioloop_send (measured in the
 * Go API: docs/BENCHMARKS.md, "Zero-copy send"): meant for large buffers
 * on a real network device. len at most INT32_MAX, as ioloop_send. */
int ioloop_send_zc(ioloop_loop *loop, ioloop_completion *c, int fd, const void *buf, size_t len, ioloop_callback cb,
		   void *userdata);

/* ---------------------------------------------------------------------- */
/* CHAINS
 *
 * The operations submitted between ioloop_chain_begin and ioloop_chain_end
 * run one after another, in submission order, each only once the one
 * before it has succeeded (io_uring's IOSQE_IO_LINK; the loop runs the
 * chain itself on epoll, with the same results):
 *
 *     ioloop_chain_begin(loop);
 *     ioloop_write(loop, &w, fd, rec, len, off, on_write, conn);
 *     ioloop_fdatasync(loop, &s, fd, on_sync, conn);
 *     ioloop_chain_end(loop);
 *
 * Every operation still gets exactly one callback. An operation fails the
 * chain when its result is an error, and also when a read, write, readv
 * or writev is short. The operations after a failed one complete with
 * IOLOOP_ECHAIN without running (-ECANCELED during ioloop_loop_close).
 * Cancel a chain by canceling the operation that is running: a cancel of
 * one that has not started finds nothing (-ENOENT).
 *
 * Rules (each broken one is IOLOOP_EMISUSE, returned at once):
 * - chains do not nest: ioloop_chain_begin while one is open is refused,
 *   and so is ioloop_chain_end without one;
 * - ioloop_next_tick, ioloop_timeout, ioloop_cancel and ioloop_wait_event
 *   (run by the loop, not the kernel) cannot be part of a chain;
 * - the loop cannot be driven with a chain open (ioloop_run_for, ioloop_run,
 *   ioloop_tick); ioloop_loop_close ends an open chain first, and a chain
 *   that a callback leaves open is ended when the callback returns;
 * - on io_uring a chain must fit in the submission queue
 *   (ioloop_options.entries, default 256): every operation of a longer one
 *   completes with IOLOOP_EMISUSE, and none runs.
 * An operation whose arguments the library itself rejects before the Go
 * loop sees them (an ioloop_connect, ioloop_sendto or ioloop_sendmsg
 * address it cannot decode, a send longer than INT32_MAX) completes with
 * its error at once and is left out of the chain: the rest of the chain
 * runs without it. Arguments the Go loop or the kernel rejects fail the
 * whole chain, as described above. */

/* Opens a chain. Returns 0 or IOLOOP_EMISUSE. Loop thread only. */
int ioloop_chain_begin(ioloop_loop *loop);

/* Ends the open chain; its operations reach the kernel at the next run
 * call. An empty chain does nothing. Returns 0 or IOLOOP_EMISUSE. */
int ioloop_chain_end(ioloop_loop *loop);

/* Bounds the operation submitted just before it, in the same chain, to
 * timeout_ns: if that operation has not completed by then, it is canceled
 * and its callback gets -ETIMEDOUT. The timer starts when the operation
 * starts. The link timeout's own callback runs after the operation's, with
 * 0 when it fired and canceled the operation, -ECANCELED when the
 * operation completed first (or the chain was canceled), -EALREADY when it
 * fired but the operation could not be interrupted (a file operation
 * already running, which completes with its own result), and
 * IOLOOP_ECHAIN when the operation never ran. It does not break the chain:
 * the operations after it depend on the timed operation's success.
 * IOLOOP_EMISUSE outside a chain, as a chain's first operation, or right
 * after another ioloop_link_timeout. */
int ioloop_link_timeout(ioloop_loop *loop, ioloop_completion *c, uint64_t timeout_ns, ioloop_callback cb,
			void *userdata);

/* ---------------------------------------------------------------------- */
/* BUFFER POOLS AND MULTISHOT OPERATIONS
 *
 * A pool is a set of equal buffers that pooled receives share: a receive
 * takes a buffer only when data arrives, instead of owning one while it
 * waits, so an idle connection costs its completion, not a buffer. On
 * io_uring (Linux 6.0+) the pool is the kernel's provided-buffer ring.
 *
 * In the callback of a pooled receive, ioloop_completion_buffer(c) is the
 * buffer the result's bytes landed in (result > 0), NULL otherwise. The
 * buffer is the caller's until ioloop_pool_release gives it back; the
 * callback may keep it (to parse later, to send it back) as long as it
 * likes, and the completion may be reused meanwhile. When every buffer is
 * held, pooled receives wait, without failing and without losing data.
 *
 * A multishot operation is submitted once and calls back once per result
 * while it stays pending: ioloop_completion_more(c) is 1 in a callback
 * after which more will come (the completion is still pending: do not
 * resubmit or free it), 0 in the final one (the completion is idle). It
 * ends at an error, at end of stream (a result of 0), with ioloop_cancel
 * (final result -ECANCELED) or ioloop_loop_close. Results of one
 * completion arrive in order; when two arrive in one pass of the loop, the
 * first is delivered early (with every result ready before it), so
 * callbacks may run while the library is inside the Go loop: they may do
 * everything a callback may.
 *
 * A pool belongs to its loop (loop thread only, like the operations); its
 * handle and its buffers' memory are invalid once ioloop_loop_close
 * returns (which closes the loop's pools). Every call below returns
 * IOLOOP_EMISUSE for a NULL argument or a pool of another loop. */
typedef struct ioloop_pool ioloop_pool;

/* Creates a pool of count buffers of size bytes (count 1..32768, size
 * 1..16 MiB: else -EINVAL) and stores it in *out. Returns 0, -EINVAL,
 * -EMFILE (more than 65536 pools on one loop), -ENOMEM or another -errno
 * when the kernel refuses the ring, or IOLOOP_EMISUSE. */
int ioloop_pool_new(ioloop_loop *loop, uint32_t count, uint32_t size, ioloop_pool **out);

/* Closes a pool before its loop does. IOLOOP_EMISUSE while pooled
 * receives are pending on it (cancel them first) or when it is closed
 * already. Buffers the caller holds stay valid memory until the loop
 * closes, and ioloop_pool_release still accepts them. The handle stays
 * valid (for release) until the loop closes. */
int ioloop_pool_close(ioloop_pool *pool);

/* The number of buffers neither held by the caller nor filled and waiting
 * for a callback. */
uint32_t ioloop_pool_free(ioloop_pool *pool);

/* Gives back the buffer that ioloop_completion_buffer returned (any
 * pointer inside it), and wakes the first receive waiting for one. The
 * next receive may overwrite it. IOLOOP_EMISUSE for a pointer that is not
 * in one of the pool's buffers, or a buffer released twice. */
int ioloop_pool_release(ioloop_pool *pool, void *buf);

/* Receives once from the stream socket fd into a buffer of pool, taken
 * when data arrives; result: the bytes received (in
 * ioloop_completion_buffer(c)), 0 at end of stream, or -errno. */
int ioloop_recv_pooled(ioloop_loop *loop, ioloop_completion *c, int fd, ioloop_pool *pool, ioloop_callback cb,
		       void *userdata);

/* Multishot receive from the stream socket fd: one callback per arrival
 * (result > 0, its buffer as for ioloop_recv_pooled, more = 1), until end
 * of stream (0), an error or a cancel ends it with a final callback
 * (more = 0, no buffer). */
int ioloop_recv_multishot(ioloop_loop *loop, ioloop_completion *c, int fd, ioloop_pool *pool, ioloop_callback cb,
			  void *userdata);

/* Multishot receive of datagrams on the datagram socket fd: one callback
 * per datagram (result >= 0: its length; a zero-length datagram has no
 * buffer), until an error or a cancel. A datagram longer than the pool's
 * buffers is truncated. In the callback, ioloop_completion_from gives the
 * sender. */
int ioloop_recvfrom_multishot(ioloop_loop *loop, ioloop_completion *c, int fd, ioloop_pool *pool, ioloop_callback cb,
			      void *userdata);

/* Multishot accept on the listening socket listen_fd: one callback per
 * connection (result: its descriptor, non-blocking and close-on-exec,
 * more = 1), until an error or a cancel ends it (final callback, result
 * < 0, more = 0). ECONNABORTED and similar errors of one connection end
 * it too: accept again if you want more. */
int ioloop_accept_multishot(ioloop_loop *loop, ioloop_completion *c, int listen_fd, ioloop_callback cb,
			    void *userdata);

/* In a pooled receive's callback: the buffer holding the result's bytes,
 * or NULL (no data, an error, or another operation). */
void *ioloop_completion_buffer(const ioloop_completion *c);

/* In a callback: 1 when the multishot operation goes on (more callbacks
 * will come; c is still pending), 0 in its final callback and in the
 * callback of every other operation. */
int ioloop_completion_more(const ioloop_completion *c);

/* In an ioloop_recvfrom_multishot callback: writes the datagram's sender
 * (a sockaddr_in or sockaddr_in6) into *from and its length into
 * *fromlen, and returns 0; -EAFNOSUPPORT (and *fromlen 0) when the sender
 * has no IP address (a unix socket) or the result is an error;
 * IOLOOP_EMISUSE for another operation. One call into Go per call: ask
 * only when needed. */
int ioloop_completion_from(ioloop_loop *loop, const ioloop_completion *c, struct sockaddr_storage *from,
			   socklen_t *fromlen);

/* ---------------------------------------------------------------------- */
/* REGISTERED FILES AND BUFFERS
 *
 * These are plain calls (they return their result; no callback). They
 * apply to the operations the loop takes after the call: an operation
 * already submitted but not yet handed to the loop (which happens at the
 * next run call) is taken after it too. Loop thread only. */

/* Registers the open descriptor fd (socket or file) with the loop: every
 * later operation on fd names it by its slot in the kernel's table
 * (io_uring's IOSQE_FIXED_FILE), transparently. Returns 0, -EBADF (not
 * open, or above 1<<20), -EEXIST (registered already), -ENOSPC (the table
 * is full), another -errno from the kernel, or IOLOOP_EMISUSE. Close a
 * registered descriptor with ioloop_close (which unregisters it first), or
 * unregister it before closing it any other way: the kernel's table holds
 * a reference to the file. On epoll it validates and records fd only. */
int ioloop_register_file(ioloop_loop *loop, int fd);

/* Undoes ioloop_register_file. Returns 0, -ENOENT (not registered), or
 * another -errno. */
int ioloop_unregister_file(ioloop_loop *loop, int fd);

/* Registers iovcnt buffers (1..16384, each 1 byte..1 GiB, else -EINVAL)
 * for ioloop_read_fixed and ioloop_write_fixed, replacing any set
 * registered before; on io_uring the kernel pins their memory once
 * (counted against RLIMIT_MEMLOCK: -ENOMEM past it). The memory stays
 * the caller's, and must stay valid until it is replaced, unregistered or
 * the loop closes. The iovec array itself is read at the call. Returns 0
 * or a negative errno; after an error no buffers are registered. */
int ioloop_register_buffers(ioloop_loop *loop, const struct iovec *iov, int iovcnt);

/* Forgets the registered buffers (0 also when none were). */
int ioloop_unregister_buffers(ioloop_loop *loop);

/* ioloop_read and ioloop_write from inside a registered buffer (any part
 * of one): IORING_OP_READ_FIXED / WRITE_FIXED on io_uring, plain read and
 * write elsewhere; results as ioloop_read and ioloop_write. A buffer
 * outside the registered ones completes with -EFAULT. */
int ioloop_read_fixed(ioloop_loop *loop, ioloop_completion *c, int fd, void *buf, size_t len, int64_t offset,
		      ioloop_callback cb, void *userdata);
int ioloop_write_fixed(ioloop_loop *loop, ioloop_completion *c, int fd, const void *buf, size_t len, int64_t offset,
		       ioloop_callback cb, void *userdata);

/* ---------------------------------------------------------------------- */
/* STATISTICS */

/* A snapshot of a loop's counters (ioloop.Stats of the Go API). Operations
 * are counted when the loop takes them (at the next run call after their
 * submission), not when an ioloop_* function queues them. */
typedef struct ioloop_stats {
	uint64_t submitted;           /* operations taken, all kinds */
	uint64_t completed;           /* callbacks run (multishot: each one) */
	uint64_t kernel_enters;       /* io_uring_enter / epoll_wait calls */
	uint64_t overflow_depth;      /* submissions waiting for room in the kernel's queue now */
	uint64_t overflow_high_water; /* the largest such depth seen */
	uint64_t in_flight;           /* operations whose result is not known yet */
	uint64_t timers_pending;      /* pending timeouts (and link timeouts the loop times) */
	uint64_t inbox_depth;         /* posted callbacks not run yet (a momentary reading) */
	uint64_t pool_buffers_free;   /* free buffers of all the loop's pools */
	uint64_t _reserved[7];        /* zero; room to grow */
} ioloop_stats;

/* Fills *out. Loop thread only (also from callbacks); returns 0 or
 * IOLOOP_EMISUSE. Allocates nothing. */
int ioloop_loop_stats(ioloop_loop *loop, ioloop_stats *out);

/* The counts of one kind of operation, named as the Go API spells it
 * ("Recv", "Send", "ReadFixed", "RecvMultishot", "Nop", ...): returns 0,
 * -ENOENT for a name that is none, or IOLOOP_EMISUSE. */
int ioloop_loop_stats_op(ioloop_loop *loop, const char *name, uint64_t *submitted, uint64_t *completed);

/* ---------------------------------------------------------------------- */
/* Cross-thread */

/* Queues cb(loop, c, 0, userdata) to run on the loop's thread, and wakes
 * the loop if it is blocked. Any thread. c is caller-owned, as for an
 * operation: it must not be pending, and is pending until cb runs. Returns
 * 0 (cb runs exactly once, at the latest during ioloop_loop_close),
 * -EAGAIN when the inbox is full (ioloop_options.inbox_entries; nothing was
 * queued: retry later or shed load), IOLOOP_ECLOSED once close began, or
 * IOLOOP_EMISUSE. Never blocks, never allocates. */
int ioloop_post(ioloop_loop *loop, ioloop_completion *c, ioloop_callback cb, void *userdata);

/* ioloop_post from one loop to another: called on from's thread
 * (typically in one of its callbacks), it queues cb(to, c, 0, userdata) to
 * run on to's thread. The difference is the wakeup: when both loops run on
 * io_uring and the kernel has IORING_OP_MSG_RING (5.18), waking a blocked
 * to rides in from's next submission (its next run call, or the end of
 * the current pass when called from a callback) instead of costing a
 * system call of its own; so a callback that messages several loops wakes
 * them all with the batch its loop submits anyway. Elsewhere it wakes to
 * as ioloop_post does. Results and guarantees are ioloop_post's
 * (IOLOOP_ECLOSED when to has begun closing; to must not have been freed).
 * The Go API's Group (several loops, each on a thread of its own, started
 * and shut down together) has no C counterpart: a C program creates its
 * threads itself, one loop in each (see THREADS), and wires them with
 * ioloop_message, ioloop_post and ioloop_event_trigger. */
int ioloop_message(ioloop_loop *from, ioloop_loop *to, ioloop_completion *c, ioloop_callback cb, void *userdata);

/* Creates an event of loop. Loop thread. Returns NULL only for a NULL or
 * closed loop. The event lives until the loop closes. */
ioloop_event *ioloop_event_new(ioloop_loop *loop);

/* Counts one trigger and wakes the loop if a wait is pending. Any thread;
 * never blocks, never allocates; does nothing once the loop is closing.
 * Triggers are never lost and coalesce: the results of all waits add up to
 * the number of triggers. */
void ioloop_event_trigger(ioloop_event *ev);

/* Waits until ev has been triggered; result: the number of triggers since
 * the last wait took its count (>= 1), or -ECANCELED. At most one wait per
 * event is pending (a second is IOLOOP_EMISUSE); ev must belong to loop. */
int ioloop_wait_event(ioloop_loop *loop, ioloop_completion *c, ioloop_event *ev, ioloop_callback cb, void *userdata);

/* ---------------------------------------------------------------------- */
/* Socket helpers: plain blocking system calls, no loop needed. Each returns
 * a descriptor (non-blocking, close-on-exec) or a negative errno. */

/* Parses "IP:port" ("127.0.0.1:9000", "[::1]:9000") into *addr (a
 * sockaddr_in or sockaddr_in6) and its length into *addrlen. Returns 0 or
 * -EINVAL. */
int ioloop_sockaddr_parse(const char *text, struct sockaddr_storage *addr, socklen_t *addrlen);

/* Formats a sockaddr_in or sockaddr_in6 as "IP:port" into buf
 * (NUL-terminated, truncated to len); returns the full length, or
 * -EAFNOSUPPORT. */
int ioloop_sockaddr_format(const struct sockaddr *addr, socklen_t addrlen, char *buf, size_t len);

/* Flags of ioloop_listen_tcp. */
#define IOLOOP_LISTEN_REUSEPORT 0x1u /* SO_REUSEPORT: several listeners on one address */
#define IOLOOP_LISTEN_NODELAY 0x2u   /* TCP_NODELAY, inherited by accepted sockets */

/* A TCP socket listening on addr (SO_REUSEADDR set; backlog 0: the system
 * maximum). When bound is not NULL, the address it is bound to (useful with
 * port 0) is written there and its length in *boundlen. */
int ioloop_listen_tcp(const struct sockaddr *addr, socklen_t addrlen, int backlog, uint32_t flags,
		      struct sockaddr_storage *bound, socklen_t *boundlen);

/* An unconnected TCP socket of addr's family, for ioloop_connect. */
int ioloop_tcp_socket(const struct sockaddr *addr, socklen_t addrlen);

/* A UDP socket bound to addr (port 0: any), and its bound address as for
 * ioloop_listen_tcp. */
int ioloop_listen_udp(const struct sockaddr *addr, socklen_t addrlen, struct sockaddr_storage *bound,
		      socklen_t *boundlen);

/* A unix stream socket listening on path (backlog 0: the maximum), and an
 * unconnected one for ioloop_connect. */
int ioloop_listen_unix(const char *path, int backlog);
int ioloop_unix_socket(void);

/* ---------------------------------------------------------------------- */
/* ------------------------------------------------------------------------
 * THE GO API FROM C
 *
 * Every operation of the Go API has a C function above: Nop, NextTick,
 * Timeout, Cancel, Accept, AcceptMultishot, Connect and ConnectUnix
 * (ioloop_connect), Recv, RecvPooled, RecvMultishot, Send, SendZC, SendTo,
 * RecvFrom, RecvFromMultishot, SendMsg, RecvMsg, Shutdown, Close, Read,
 * Write, Readv, Writev, WriteDurable, WritevDurable, ReadFixed,
 * WriteFixed, Fsync, Fdatasync, OpenAt, Statx, Fallocate, Ftruncate,
 * Renameat, Unlinkat, Mkdirat, Linkat, Symlinkat, Fadvise, SyncFileRange,
 * WaitEvent, LinkTimeout; and so do chains, buffer pools, registered files
 * and buffers, Post, Message, events, Stop and Stats. What is not here,
 * and why:
 *
 * - Group (StartGroup, Shutdown, Wait): it starts goroutines on locked
 *   threads and runs Go setup functions on them. A C program owns its
 *   threads: create one loop on each (ioloop_loop_new on that thread, with
 *   IOLOOP_OPT_LOCKED_THREAD for io_uring's single-issuer mode), give each
 *   its own SO_REUSEPORT listener (ioloop_listen_tcp with
 *   IOLOOP_LISTEN_REUSEPORT, which is what ListenTCPShards does), and
 *   exchange work with ioloop_message, ioloop_post and events. An ordered
 *   shutdown is ioloop_stop on every loop, then ioloop_loop_close on each
 *   loop's own thread.
 * - TimeoutAt (a time.Time deadline): C has no such time; compute the
 *   duration from clock_gettime(CLOCK_MONOTONIC) and use ioloop_timeout.
 * - Loop.Now, LocalAddr, RemoteAddr, SetNoDelay, IsAligned, AlignedBuffer,
 *   OpenDirect: plain system calls in C (clock_gettime, getsockname,
 *   getpeername, setsockopt, posix_memalign, open with O_DIRECT); they
 *   exist in Go for the simulator or for portability, not for the loop.
 * - The simulator backend (and the Loop methods ListenTCP, ListenUDP,
 *   TCPSocket, UDPSocket, which exist for it): its simulated world is a Go
 *   test tool with no C interface; the package functions ListenTCP,
 *   ListenUDP, ListenUnix, TCPSocket, UDPSocket, UnixSocket are the socket
 *   helpers above.
 * - Options.FileSubmitBatch: it bounds how many file operations Go
 *   callbacks submit before the loop hands them over mid-pass; C callbacks'
 *   submissions reach the loop as one list after each pass anyway.
 * - IOCP (Windows) and kqueue builds of this library: Linux only for now.
 */

#ifdef __cplusplus
}
#endif

#endif /* IOLOOP_H */
