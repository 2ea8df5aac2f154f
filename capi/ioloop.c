/*
 * ioloop.c: the C half of libioloop.
 *
 * The operation functions are plain C: they check the completion, record
 * the arguments in its reserved room (ioloop_cimpl) and append it to the
 * loop's submission list, without entering Go. Go takes the list when the
 * loop runs (capi.go, drainSubmissions) and hands results back through
 * ioloop__deliver, one call per pass of the loop, which runs the callbacks
 * here in C. Everything else (creating, running, closing a loop, posting,
 * events, socket helpers) calls into Go.
 */
#include <errno.h>
#include <string.h>

#include "ioloop_impl.h"
#include "_cgo_export.h"

/* Set by Go at load time (capi.go, init): a description of every errno
 * below 256, so that ioloop_strerror needs no call into Go and no lock. */
const char *ioloop__errno_text[256];

static ioloop_cimpl *impl(ioloop_completion *c) { return (ioloop_cimpl *)c; }

static int vectored(ioloop_loop *loop, ioloop_completion *c, uint8_t op, int fd, const struct iovec *iov, int iovcnt,
		    int64_t offset, ioloop_callback cb, void *userdata);

const char *ioloop_strerror(int32_t result)
{
	if (result >= 0)
		return "success";
	switch (result) {
	case IOLOOP_EMISUSE:
		return "ioloop: misuse of the API (see ioloop_last_error)";
	case IOLOOP_ECLOSED:
		return "ioloop: loop closed";
	case IOLOOP_EINTERNAL:
		return "ioloop: internal error (see ioloop_last_error)";
	case IOLOOP_EBACKEND:
		return "ioloop: the kernel interface failed (see ioloop_last_error)";
	case IOLOOP_ECHAIN:
		return "ioloop: not run: an earlier operation of its chain failed";
	}
	if (result > -256 && ioloop__errno_text[-result] != NULL)
		return ioloop__errno_text[-result];
	return "unknown error";
}

const char *ioloop_backend_name(int backend)
{
	switch (backend) {
	case IOLOOP_BACKEND_AUTO:
		return "auto";
	case IOLOOP_BACKEND_IO_URING:
		return "io_uring";
	case IOLOOP_BACKEND_EPOLL:
		return "epoll";
	case IOLOOP_BACKEND_KQUEUE:
		return "kqueue";
	}
	return "unknown";
}

/* The message of the last error ioloop_loop_new returned on this thread. */
static _Thread_local char new_error[IOLOOP_LAST_ERROR_SIZE];

/* Called by Go to record a message for ioloop_last_error. */
void ioloop__set_error(ioloop_loop *loop, const char *msg, size_t len)
{
	char *dst = loop != NULL ? loop->last_error : new_error;
	if (len >= IOLOOP_LAST_ERROR_SIZE)
		len = IOLOOP_LAST_ERROR_SIZE - 1;
	memcpy(dst, msg, len);
	dst[len] = 0;
}

size_t ioloop_last_error(ioloop_loop *loop, char *buf, size_t len)
{
	const char *src = loop != NULL ? loop->last_error : new_error;
	size_t n = strlen(src);
	if (buf != NULL && len > 0) {
		size_t k = n < len - 1 ? n : len - 1;
		memcpy(buf, src, k);
		buf[k] = 0;
	}
	return n;
}

int ioloop_loop_new(ioloop_loop **out, const ioloop_options *opts)
{
	if (out == NULL)
		return IOLOOP_EMISUSE;
	*out = NULL;
	new_error[0] = 0;
	return ioloopgo_loop_new((ioloop_options *)opts, out);
}

int ioloop_loop_close(ioloop_loop *loop)
{
	if (loop == NULL || loop->closed || loop->in_callback)
		return IOLOOP_EMISUSE;
	if (loop->chain_open)
		ioloop_chain_end(loop); /* submit what was queued: Close completes it */
	return ioloopgo_loop_close(loop);
}

int ioloop_loop_backend(ioloop_loop *loop) { return loop != NULL ? loop->backend : IOLOOP_EMISUSE; }

size_t ioloop_loop_fallback_reason(ioloop_loop *loop, char *buf, size_t len)
{
	if (loop == NULL)
		return 0;
	return ioloopgo_fallback_reason(loop, buf, len);
}

/* How ioloopgo_run runs the loop. */
enum { RUN_FOR = 0, RUN_TICK = 1, RUN_UNTIL_DONE = 2 };

static int run(ioloop_loop *loop, int mode, int64_t timeout_ns)
{
	if (loop == NULL || loop->closed)
		return IOLOOP_EMISUSE;
	if (loop->in_callback) {
		ioloop__set_error(loop, "ioloop: the loop was driven from one of its callbacks", 54);
		return IOLOOP_EMISUSE;
	}
	if (loop->chain_open) {
		static const char msg[] = "ioloop: the loop was driven with a chain open; call ioloop_chain_end first";
		ioloop__set_error(loop, msg, sizeof msg - 1);
		return IOLOOP_EMISUSE;
	}
	return ioloopgo_run(loop, mode, timeout_ns);
}

int ioloop_run_for(ioloop_loop *loop, int64_t timeout_ns) { return run(loop, RUN_FOR, timeout_ns); }
int ioloop_tick(ioloop_loop *loop) { return run(loop, RUN_TICK, 0); }
int ioloop_run(ioloop_loop *loop) { return run(loop, RUN_UNTIL_DONE, 0); }

void ioloop_stop(ioloop_loop *loop)
{
	if (loop != NULL)
		ioloopgo_stop(loop);
}

uint32_t ioloop_loop_pending(ioloop_loop *loop) { return loop != NULL ? loop->pending : 0; }

void ioloop_completion_init(ioloop_completion *c) { memset(c, 0, sizeof *c); }

int ioloop_completion_pending(const ioloop_completion *c)
{
	return ((const ioloop_cimpl *)c)->state != IOLOOP_STATE_IDLE;
}

int32_t ioloop_completion_result(const ioloop_completion *c) { return ((const ioloop_cimpl *)c)->result; }

int ioloop_completion_release(ioloop_loop *loop, ioloop_completion *c)
{
	ioloop_cimpl *ci = impl(c);
	if (loop == NULL || c == NULL || ci->state != IOLOOP_STATE_IDLE)
		return IOLOOP_EMISUSE;
	if (ci->slot != 0 && ci->slot_loop == loop->id && !loop->closed)
		ioloopgo_release(loop, ci);
	memset(c, 0, sizeof *c);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Submission: pure C. */

/* chainable: the operations the loop runs itself cannot be part of a
 * chain (Loop.BeginChain). */
static int chainable(uint8_t op)
{
	return op != IOLOOP_OP_NEXT_TICK && op != IOLOOP_OP_TIMEOUT && op != IOLOOP_OP_CANCEL &&
	       op != IOLOOP_OP_WAIT_EVENT;
}

/* begin checks a submission and prepares c's common fields; it returns
 * NULL when the submission is refused. */
static ioloop_cimpl *begin(ioloop_loop *loop, ioloop_completion *c, uint8_t op, ioloop_callback cb, void *userdata)
{
	if (loop == NULL || c == NULL || cb == NULL || loop->closed)
		return NULL;
	ioloop_cimpl *ci = impl(c);
	if (ci->state != IOLOOP_STATE_IDLE)
		return NULL;
	if (loop->chain_open && !chainable(op))
		return NULL;
	ci->op = op;
	ci->more = 0;
	ci->cb = cb;
	ci->userdata = userdata;
	ci->loop = loop;
	return ci;
}

/* queue appends a prepared completion to the loop's submission list. */
static int queue(ioloop_loop *loop, ioloop_cimpl *ci)
{
	ci->state = IOLOOP_STATE_QUEUED;
	ci->next = NULL;
	ci->link = 0;
	if (loop->chain_open) {
		if (loop->chain_last == NULL)
			ci->link = IOLOOP_LINK_FIRST;
		loop->chain_last = ci;
	}
	if (loop->sq_tail != NULL)
		loop->sq_tail->next = ci;
	else
		loop->sq_head = ci;
	loop->sq_tail = ci;
	loop->sq_len++;
	loop->pending++;
	return 0;
}

#define BEGIN(op)                                                    \
	ioloop_cimpl *ci = begin(loop, c, (op), cb, userdata);       \
	if (ci == NULL)                                              \
		return IOLOOP_EMISUSE

int ioloop_nop(ioloop_loop *loop, ioloop_completion *c, ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_NOP);
	return queue(loop, ci);
}

int ioloop_next_tick(ioloop_loop *loop, ioloop_completion *c, ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_NEXT_TICK);
	return queue(loop, ci);
}

int ioloop_timeout(ioloop_loop *loop, ioloop_completion *c, uint64_t timeout_ns, ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_TIMEOUT);
	ci->offset = timeout_ns > INT64_MAX ? INT64_MAX : (int64_t)timeout_ns;
	return queue(loop, ci);
}

int ioloop_cancel(ioloop_loop *loop, ioloop_completion *c, ioloop_completion *target, ioloop_callback cb, void *userdata)
{
	if (target == NULL || target == c)
		return IOLOOP_EMISUSE;
	BEGIN(IOLOOP_OP_CANCEL);
	ci->ptr = target;
	return queue(loop, ci);
}

int ioloop_accept(ioloop_loop *loop, ioloop_completion *c, int listen_fd, ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_ACCEPT);
	ci->fd = listen_fd;
	return queue(loop, ci);
}

int ioloop_connect(ioloop_loop *loop, ioloop_completion *c, int fd, const struct sockaddr *addr, socklen_t addrlen,
		   ioloop_callback cb, void *userdata)
{
	if (addr == NULL)
		return IOLOOP_EMISUSE;
	BEGIN(IOLOOP_OP_CONNECT);
	ci->fd = fd;
	ci->ptr = (void *)addr;
	ci->len = addrlen;
	return queue(loop, ci);
}

/* setbuf records a buffer (NULL with length 0 is an empty buffer). */
static int setbuf_(ioloop_cimpl *ci, const void *buf, size_t len)
{
	if (buf == NULL && len != 0)
		return -1;
	ci->ptr = (void *)buf;
	ci->len = len;
	return 0;
}

#define BUF(buf, len)                             \
	if (setbuf_(ci, (buf), (len)) != 0)       \
	return IOLOOP_EMISUSE

int ioloop_recv(ioloop_loop *loop, ioloop_completion *c, int fd, void *buf, size_t len, ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_RECV);
	BUF(buf, len);
	ci->fd = fd;
	return queue(loop, ci);
}

int ioloop_send(ioloop_loop *loop, ioloop_completion *c, int fd, const void *buf, size_t len, ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_SEND);
	BUF(buf, len);
	ci->fd = fd;
	return queue(loop, ci);
}

int ioloop_sendto(ioloop_loop *loop, ioloop_completion *c, int fd, const void *buf, size_t len, const struct sockaddr *addr,
		  socklen_t addrlen, ioloop_callback cb, void *userdata)
{
	if (addr == NULL)
		return IOLOOP_EMISUSE;
	BEGIN(IOLOOP_OP_SENDTO);
	BUF(buf, len);
	ci->fd = fd;
	ci->ptr2 = (void *)addr;
	ci->len2 = addrlen;
	return queue(loop, ci);
}

int ioloop_recvfrom(ioloop_loop *loop, ioloop_completion *c, int fd, void *buf, size_t len, struct sockaddr *from,
		    socklen_t *fromlen, ioloop_callback cb, void *userdata)
{
	if (from != NULL && fromlen == NULL)
		return IOLOOP_EMISUSE;
	BEGIN(IOLOOP_OP_RECVFROM);
	BUF(buf, len);
	ci->fd = fd;
	ci->ptr2 = from;
	ci->ptr3 = fromlen;
	return queue(loop, ci);
}

int ioloop_shutdown(ioloop_loop *loop, ioloop_completion *c, int fd, int how, ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_SHUTDOWN);
	ci->fd = fd;
	ci->flags = (uint32_t)how;
	return queue(loop, ci);
}

int ioloop_close(ioloop_loop *loop, ioloop_completion *c, int fd, ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_CLOSE);
	ci->fd = fd;
	return queue(loop, ci);
}

int ioloop_read(ioloop_loop *loop, ioloop_completion *c, int fd, void *buf, size_t len, int64_t offset, ioloop_callback cb,
		void *userdata)
{
	BEGIN(IOLOOP_OP_READ);
	BUF(buf, len);
	ci->fd = fd;
	ci->offset = offset;
	return queue(loop, ci);
}

int ioloop_write(ioloop_loop *loop, ioloop_completion *c, int fd, const void *buf, size_t len, int64_t offset,
		 ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_WRITE);
	BUF(buf, len);
	ci->fd = fd;
	ci->offset = offset;
	return queue(loop, ci);
}

int ioloop_writev_durable(ioloop_loop *loop, ioloop_completion *c, int fd, const struct iovec *iov, int iovcnt,
			  int64_t offset, int durability, ioloop_callback cb, void *userdata)
{
	if (durability != IOLOOP_DATA_SYNC && durability != IOLOOP_FILE_SYNC)
		return IOLOOP_EMISUSE;
	int rc = vectored(loop, c, IOLOOP_OP_WRITEV_DURABLE, fd, iov, iovcnt, offset, cb, userdata);
	if (rc == 0)
		impl(c)->flags = (uint32_t)durability;
	return rc;
}

int ioloop_write_durable(ioloop_loop *loop, ioloop_completion *c, int fd, const void *buf, size_t len, int64_t offset,
			 int durability, ioloop_callback cb, void *userdata)
{
	if (durability != IOLOOP_DATA_SYNC && durability != IOLOOP_FILE_SYNC)
		return IOLOOP_EMISUSE;
	BEGIN(IOLOOP_OP_WRITE_DURABLE);
	BUF(buf, len);
	ci->fd = fd;
	ci->offset = offset;
	ci->flags = (uint32_t)durability;
	return queue(loop, ci);
}

static int vectored(ioloop_loop *loop, ioloop_completion *c, uint8_t op, int fd, const struct iovec *iov, int iovcnt,
		    int64_t offset, ioloop_callback cb, void *userdata)
{
	if (iovcnt < 0 || (iov == NULL && iovcnt > 0))
		return IOLOOP_EMISUSE;
	BEGIN(op);
	ci->fd = fd;
	ci->ptr = (void *)iov;
	ci->len = (uint64_t)iovcnt;
	ci->offset = offset;
	return queue(loop, ci);
}

int ioloop_readv(ioloop_loop *loop, ioloop_completion *c, int fd, const struct iovec *iov, int iovcnt, int64_t offset,
		 ioloop_callback cb, void *userdata)
{
	return vectored(loop, c, IOLOOP_OP_READV, fd, iov, iovcnt, offset, cb, userdata);
}

int ioloop_writev(ioloop_loop *loop, ioloop_completion *c, int fd, const struct iovec *iov, int iovcnt, int64_t offset,
		  ioloop_callback cb, void *userdata)
{
	return vectored(loop, c, IOLOOP_OP_WRITEV, fd, iov, iovcnt, offset, cb, userdata);
}

int ioloop_fsync(ioloop_loop *loop, ioloop_completion *c, int fd, ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_FSYNC);
	ci->fd = fd;
	return queue(loop, ci);
}

int ioloop_fdatasync(ioloop_loop *loop, ioloop_completion *c, int fd, ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_FDATASYNC);
	ci->fd = fd;
	return queue(loop, ci);
}

#define PATH(p)                 \
	if ((p) == NULL)        \
	return IOLOOP_EMISUSE

int ioloop_openat(ioloop_loop *loop, ioloop_completion *c, int dirfd, const char *path, int flags, uint32_t mode,
		  ioloop_callback cb, void *userdata)
{
	PATH(path);
	BEGIN(IOLOOP_OP_OPENAT);
	ci->fd = dirfd;
	ci->ptr = (void *)path;
	ci->flags = (uint32_t)flags;
	ci->mode = mode;
	return queue(loop, ci);
}

int ioloop_fallocate(ioloop_loop *loop, ioloop_completion *c, int fd, uint32_t mode, int64_t offset, int64_t length,
		     ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_FALLOCATE);
	ci->fd = fd;
	ci->mode = mode;
	ci->offset = offset;
	ci->len2 = length;
	return queue(loop, ci);
}

int ioloop_ftruncate(ioloop_loop *loop, ioloop_completion *c, int fd, int64_t length, ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_FTRUNCATE);
	ci->fd = fd;
	ci->len2 = length;
	return queue(loop, ci);
}

static int two_paths(ioloop_loop *loop, ioloop_completion *c, uint8_t op, int olddirfd, const char *oldpath, int newdirfd,
		     const char *newpath, uint32_t flags, ioloop_callback cb, void *userdata)
{
	PATH(oldpath);
	PATH(newpath);
	BEGIN(op);
	ci->fd = olddirfd;
	ci->ptr = (void *)oldpath;
	ci->fd2 = newdirfd;
	ci->ptr2 = (void *)newpath;
	ci->flags = flags;
	return queue(loop, ci);
}

int ioloop_renameat(ioloop_loop *loop, ioloop_completion *c, int olddirfd, const char *oldpath, int newdirfd,
		    const char *newpath, uint32_t flags, ioloop_callback cb, void *userdata)
{
	return two_paths(loop, c, IOLOOP_OP_RENAMEAT, olddirfd, oldpath, newdirfd, newpath, flags, cb, userdata);
}

int ioloop_linkat(ioloop_loop *loop, ioloop_completion *c, int olddirfd, const char *oldpath, int newdirfd,
		  const char *newpath, int flags, ioloop_callback cb, void *userdata)
{
	return two_paths(loop, c, IOLOOP_OP_LINKAT, olddirfd, oldpath, newdirfd, newpath, (uint32_t)flags, cb, userdata);
}

int ioloop_symlinkat(ioloop_loop *loop, ioloop_completion *c, const char *target, int newdirfd, const char *linkpath,
		     ioloop_callback cb, void *userdata)
{
	return two_paths(loop, c, IOLOOP_OP_SYMLINKAT, -1, target, newdirfd, linkpath, 0, cb, userdata);
}

int ioloop_unlinkat(ioloop_loop *loop, ioloop_completion *c, int dirfd, const char *path, int flags, ioloop_callback cb,
		    void *userdata)
{
	PATH(path);
	BEGIN(IOLOOP_OP_UNLINKAT);
	ci->fd = dirfd;
	ci->ptr = (void *)path;
	ci->flags = (uint32_t)flags;
	return queue(loop, ci);
}

int ioloop_mkdirat(ioloop_loop *loop, ioloop_completion *c, int dirfd, const char *path, uint32_t mode, ioloop_callback cb,
		   void *userdata)
{
	PATH(path);
	BEGIN(IOLOOP_OP_MKDIRAT);
	ci->fd = dirfd;
	ci->ptr = (void *)path;
	ci->mode = mode;
	return queue(loop, ci);
}

int ioloop_fadvise(ioloop_loop *loop, ioloop_completion *c, int fd, int64_t offset, int64_t length, int advice,
		   ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_FADVISE);
	ci->fd = fd;
	ci->offset = offset;
	ci->len2 = length;
	ci->flags = (uint32_t)advice;
	return queue(loop, ci);
}

int ioloop_sync_file_range(ioloop_loop *loop, ioloop_completion *c, int fd, int64_t offset, int64_t length,
			   unsigned int flags, ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_SYNC_FILE_RANGE);
	ci->fd = fd;
	ci->offset = offset;
	ci->len2 = length;
	ci->flags = flags;
	return queue(loop, ci);
}

int ioloop_statx(ioloop_loop *loop, ioloop_completion *c, int dirfd, const char *path, int flags, unsigned int mask,
		 struct statx *stat, ioloop_callback cb, void *userdata)
{
	PATH(path);
	if (stat == NULL)
		return IOLOOP_EMISUSE;
	BEGIN(IOLOOP_OP_STATX);
	ci->fd = dirfd;
	ci->ptr = (void *)path;
	ci->flags = (uint32_t)flags;
	ci->mode = mask;
	ci->ptr2 = stat;
	return queue(loop, ci);
}

static int message(ioloop_loop *loop, ioloop_completion *c, uint8_t op, int fd, const struct msghdr *msg,
		   ioloop_callback cb, void *userdata)
{
	if (msg == NULL || (msg->msg_iov == NULL && msg->msg_iovlen > 0) ||
	    (msg->msg_control == NULL && msg->msg_controllen > 0))
		return IOLOOP_EMISUSE;
	BEGIN(op);
	ci->fd = fd;
	ci->ptr = (void *)msg;
	return queue(loop, ci);
}

int ioloop_sendmsg(ioloop_loop *loop, ioloop_completion *c, int fd, const struct msghdr *msg, ioloop_callback cb,
		   void *userdata)
{
	return message(loop, c, IOLOOP_OP_SENDMSG, fd, msg, cb, userdata);
}

int ioloop_recvmsg(ioloop_loop *loop, ioloop_completion *c, int fd, struct msghdr *msg, ioloop_callback cb,
		   void *userdata)
{
	return message(loop, c, IOLOOP_OP_RECVMSG, fd, msg, cb, userdata);
}

int ioloop_send_zc(ioloop_loop *loop, ioloop_completion *c, int fd, const void *buf, size_t len, ioloop_callback cb,
		   void *userdata)
{
	BEGIN(IOLOOP_OP_SEND_ZC);
	BUF(buf, len);
	ci->fd = fd;
	return queue(loop, ci);
}

int ioloop_wait_event(ioloop_loop *loop, ioloop_completion *c, ioloop_event *ev, ioloop_callback cb, void *userdata)
{
	if (ev == NULL || ev->loop != loop)
		return IOLOOP_EMISUSE;
	BEGIN(IOLOOP_OP_WAIT_EVENT);
	ci->ptr = ev;
	return queue(loop, ci);
}

/* ---------------------------------------------------------------------- */
/* Chains: the C side marks the first and the last operation; Go calls
 * Loop.BeginChain and Loop.EndChain around them when it drains the list. */

int ioloop_chain_begin(ioloop_loop *loop)
{
	if (loop == NULL || loop->closed || loop->chain_open)
		return IOLOOP_EMISUSE;
	loop->chain_open = 1;
	loop->chain_last = NULL;
	return 0;
}

int ioloop_chain_end(ioloop_loop *loop)
{
	if (loop == NULL || !loop->chain_open)
		return IOLOOP_EMISUSE;
	if (loop->chain_last != NULL)
		loop->chain_last->link |= IOLOOP_LINK_LAST;
	loop->chain_open = 0;
	loop->chain_last = NULL;
	return 0;
}

int ioloop_link_timeout(ioloop_loop *loop, ioloop_completion *c, uint64_t timeout_ns, ioloop_callback cb, void *userdata)
{
	if (loop == NULL || !loop->chain_open || loop->chain_last == NULL ||
	    loop->chain_last->op == IOLOOP_OP_LINK_TIMEOUT)
		return IOLOOP_EMISUSE;
	BEGIN(IOLOOP_OP_LINK_TIMEOUT);
	ci->offset = timeout_ns > INT64_MAX ? INT64_MAX : (int64_t)timeout_ns;
	return queue(loop, ci);
}

/* ---------------------------------------------------------------------- */
/* Buffer pools and multishot operations */

int ioloop_pool_new(ioloop_loop *loop, uint32_t count, uint32_t size, ioloop_pool **out)
{
	if (out == NULL)
		return IOLOOP_EMISUSE;
	*out = NULL;
	if (loop == NULL || loop->closed)
		return IOLOOP_EMISUSE;
	return ioloopgo_pool_new(loop, count, size, out);
}

int ioloop_pool_close(ioloop_pool *pool)
{
	if (pool == NULL || pool->closed)
		return IOLOOP_EMISUSE;
	return ioloopgo_pool_close(pool);
}

uint32_t ioloop_pool_free(ioloop_pool *pool)
{
	if (pool == NULL)
		return 0;
	return ioloopgo_pool_free(pool);
}

int ioloop_pool_release(ioloop_pool *pool, void *buf)
{
	if (pool == NULL || buf == NULL)
		return IOLOOP_EMISUSE;
	return ioloopgo_pool_release(pool, buf);
}

static int pooled(ioloop_loop *loop, ioloop_completion *c, uint8_t op, int fd, ioloop_pool *pool, ioloop_callback cb,
		  void *userdata)
{
	if (pool == NULL || pool->loop != loop || pool->closed)
		return IOLOOP_EMISUSE;
	BEGIN(op);
	ci->fd = fd;
	ci->ptr = pool;
	ci->ptr2 = NULL;
	return queue(loop, ci);
}

int ioloop_recv_pooled(ioloop_loop *loop, ioloop_completion *c, int fd, ioloop_pool *pool, ioloop_callback cb,
		       void *userdata)
{
	return pooled(loop, c, IOLOOP_OP_RECV_POOLED, fd, pool, cb, userdata);
}

int ioloop_recv_multishot(ioloop_loop *loop, ioloop_completion *c, int fd, ioloop_pool *pool, ioloop_callback cb,
			  void *userdata)
{
	return pooled(loop, c, IOLOOP_OP_RECV_MULTISHOT, fd, pool, cb, userdata);
}

int ioloop_recvfrom_multishot(ioloop_loop *loop, ioloop_completion *c, int fd, ioloop_pool *pool, ioloop_callback cb,
			      void *userdata)
{
	return pooled(loop, c, IOLOOP_OP_RECVFROM_MULTISHOT, fd, pool, cb, userdata);
}

int ioloop_accept_multishot(ioloop_loop *loop, ioloop_completion *c, int listen_fd, ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_ACCEPT_MULTISHOT);
	ci->fd = listen_fd;
	return queue(loop, ci);
}

static int is_pooled(const ioloop_cimpl *ci)
{
	return ci->op == IOLOOP_OP_RECV_POOLED || ci->op == IOLOOP_OP_RECV_MULTISHOT ||
	       ci->op == IOLOOP_OP_RECVFROM_MULTISHOT;
}

void *ioloop_completion_buffer(const ioloop_completion *c)
{
	const ioloop_cimpl *ci = (const ioloop_cimpl *)c;
	return c != NULL && is_pooled(ci) ? ci->ptr2 : NULL;
}

int ioloop_completion_more(const ioloop_completion *c) { return c != NULL && ((const ioloop_cimpl *)c)->more; }

int ioloop_completion_from(ioloop_loop *loop, const ioloop_completion *c, struct sockaddr_storage *from,
			   socklen_t *fromlen)
{
	const ioloop_cimpl *ci = (const ioloop_cimpl *)c;
	if (loop == NULL || c == NULL || from == NULL || fromlen == NULL || ci->op != IOLOOP_OP_RECVFROM_MULTISHOT ||
	    ci->slot == 0 || ci->slot_loop != loop->id || loop->closed)
		return IOLOOP_EMISUSE;
	return ioloopgo_completion_from(loop, (ioloop_cimpl *)ci, from, fromlen);
}

/* ---------------------------------------------------------------------- */
/* Registered files and buffers; statistics: into Go. */

int ioloop_register_file(ioloop_loop *loop, int fd)
{
	if (loop == NULL || loop->closed)
		return IOLOOP_EMISUSE;
	return ioloopgo_register_file(loop, fd, 1);
}

int ioloop_unregister_file(ioloop_loop *loop, int fd)
{
	if (loop == NULL || loop->closed)
		return IOLOOP_EMISUSE;
	return ioloopgo_register_file(loop, fd, 0);
}

int ioloop_register_buffers(ioloop_loop *loop, const struct iovec *iov, int iovcnt)
{
	if (loop == NULL || loop->closed || iovcnt < 0 || (iov == NULL && iovcnt > 0))
		return IOLOOP_EMISUSE;
	return ioloopgo_register_buffers(loop, (struct iovec *)iov, iovcnt);
}

int ioloop_unregister_buffers(ioloop_loop *loop)
{
	if (loop == NULL || loop->closed)
		return IOLOOP_EMISUSE;
	return ioloopgo_register_buffers(loop, NULL, -1);
}

int ioloop_read_fixed(ioloop_loop *loop, ioloop_completion *c, int fd, void *buf, size_t len, int64_t offset,
		      ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_READ_FIXED);
	BUF(buf, len);
	ci->fd = fd;
	ci->offset = offset;
	return queue(loop, ci);
}

int ioloop_write_fixed(ioloop_loop *loop, ioloop_completion *c, int fd, const void *buf, size_t len, int64_t offset,
		       ioloop_callback cb, void *userdata)
{
	BEGIN(IOLOOP_OP_WRITE_FIXED);
	BUF(buf, len);
	ci->fd = fd;
	ci->offset = offset;
	return queue(loop, ci);
}

int ioloop_loop_stats(ioloop_loop *loop, ioloop_stats *out)
{
	if (loop == NULL || loop->closed || out == NULL)
		return IOLOOP_EMISUSE;
	memset(out, 0, sizeof *out);
	return ioloopgo_stats(loop, out, NULL, NULL, NULL);
}

int ioloop_loop_stats_op(ioloop_loop *loop, const char *name, uint64_t *submitted, uint64_t *completed)
{
	if (loop == NULL || loop->closed || name == NULL || submitted == NULL || completed == NULL)
		return IOLOOP_EMISUSE;
	return ioloopgo_stats(loop, NULL, (char *)name, submitted, completed);
}

/* ---------------------------------------------------------------------- */
/* Cross-thread: into Go. */

int ioloop_post(ioloop_loop *loop, ioloop_completion *c, ioloop_callback cb, void *userdata)
{
	if (loop == NULL || c == NULL || cb == NULL)
		return IOLOOP_EMISUSE;
	ioloop_cimpl *ci = impl(c);
	if (ci->state != IOLOOP_STATE_IDLE)
		return IOLOOP_EMISUSE;
	ci->op = IOLOOP_OP_POST;
	ci->more = 0;
	ci->cb = cb;
	ci->userdata = userdata;
	ci->loop = loop;
	ci->state = IOLOOP_STATE_GO;
	int rc = ioloopgo_post(loop, ci);
	if (rc != 0)
		ci->state = IOLOOP_STATE_IDLE;
	return rc;
}

int ioloop_message(ioloop_loop *from, ioloop_loop *to, ioloop_completion *c, ioloop_callback cb, void *userdata)
{
	if (from == NULL || from->closed || to == NULL || c == NULL || cb == NULL)
		return IOLOOP_EMISUSE;
	ioloop_cimpl *ci = impl(c);
	if (ci->state != IOLOOP_STATE_IDLE)
		return IOLOOP_EMISUSE;
	ci->op = IOLOOP_OP_POST;
	ci->more = 0;
	ci->cb = cb;
	ci->userdata = userdata;
	ci->loop = to;
	ci->state = IOLOOP_STATE_GO;
	int rc = ioloopgo_message(from, to, ci);
	if (rc != 0)
		ci->state = IOLOOP_STATE_IDLE;
	return rc;
}

ioloop_event *ioloop_event_new(ioloop_loop *loop)
{
	if (loop == NULL || loop->closed)
		return NULL;
	return ioloopgo_event_new(loop);
}

void ioloop_event_trigger(ioloop_event *ev)
{
	if (ev != NULL)
		ioloopgo_event_trigger(ev);
}

/* ---------------------------------------------------------------------- */
/* Delivery: Go calls these with the results of a pass. */

static void deliver(ioloop_loop *loop, ioloop_cimpl *c)
{
	if (c->more) {
		c->state = IOLOOP_STATE_GO; /* a multishot operation goes on */
	} else {
		c->state = IOLOOP_STATE_IDLE;
		if (c->op != IOLOOP_OP_POST)
			loop->pending--;
	}
	c->cb(loop, (ioloop_completion *)c, c->result, c->userdata);
	if (loop->chain_open)
		ioloop_chain_end(loop); /* a callback returned with a chain open: end it (ioloop.h, CHAINS) */
}

void ioloop__deliver(ioloop_loop *loop, ioloop_cimpl *head)
{
	loop->in_callback = 1;
	while (head != NULL) {
		ioloop_cimpl *next = head->next; /* read first: the callback may resubmit head */
		deliver(loop, head);
		head = next;
	}
	loop->in_callback = 0;
}

void ioloop__deliver_one(ioloop_loop *loop, ioloop_cimpl *c)
{
	int was = loop->in_callback;
	loop->in_callback = 1;
	deliver(loop, c);
	loop->in_callback = was;
}

/* ---------------------------------------------------------------------- */
/* Socket helpers: into Go. */

int ioloop_sockaddr_parse(const char *text, struct sockaddr_storage *addr, socklen_t *addrlen)
{
	if (text == NULL || addr == NULL || addrlen == NULL)
		return -EINVAL;
	return ioloopgo_sockaddr_parse((char *)text, addr, addrlen);
}

int ioloop_sockaddr_format(const struct sockaddr *addr, socklen_t addrlen, char *buf, size_t len)
{
	if (addr == NULL)
		return -EINVAL;
	return ioloopgo_sockaddr_format((struct sockaddr *)addr, addrlen, buf, len);
}

int ioloop_listen_tcp(const struct sockaddr *addr, socklen_t addrlen, int backlog, uint32_t flags,
		      struct sockaddr_storage *bound, socklen_t *boundlen)
{
	if (addr == NULL || (bound != NULL && boundlen == NULL))
		return -EINVAL;
	return ioloopgo_listen_tcp((struct sockaddr *)addr, addrlen, backlog, flags, bound, boundlen);
}

int ioloop_tcp_socket(const struct sockaddr *addr, socklen_t addrlen)
{
	if (addr == NULL)
		return -EINVAL;
	return ioloopgo_tcp_socket((struct sockaddr *)addr, addrlen);
}

int ioloop_listen_udp(const struct sockaddr *addr, socklen_t addrlen, struct sockaddr_storage *bound,
		      socklen_t *boundlen)
{
	if (addr == NULL || (bound != NULL && boundlen == NULL))
		return -EINVAL;
	return ioloopgo_listen_udp((struct sockaddr *)addr, addrlen, bound, boundlen);
}

int ioloop_listen_unix(const char *path, int backlog)
{
	if (path == NULL)
		return -EINVAL;
	return ioloopgo_listen_unix((char *)path, backlog);
}

int ioloop_unix_socket(void) { return ioloopgo_unix_socket(); }
