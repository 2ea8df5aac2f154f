/*
 * ioloop_impl.h: the library's private layout of ioloop_completion and
 * ioloop_loop, shared by ioloop.c and the Go files of package capi (which
 * read and write these structs through cgo). Not installed; programs use
 * ioloop.h only.
 */
#ifndef IOLOOP_IMPL_H
#define IOLOOP_IMPL_H

#include <string.h>

#include "ioloop.h"

/* States of a completion (ioloop_cimpl.state). */
enum {
	IOLOOP_STATE_IDLE = 0,   /* not submitted, or its callback has started */
	IOLOOP_STATE_QUEUED = 1, /* on the loop's C submission list, not yet handed to Go */
	IOLOOP_STATE_GO = 2,     /* handed to Go: queued there, in the kernel, or posted */
	IOLOOP_STATE_READY = 3   /* result known, on the loop's ready list for its callback */
};

/* Operations (ioloop_cimpl.op). */
enum {
	IOLOOP_OP_NONE = 0,
	IOLOOP_OP_NOP,
	IOLOOP_OP_NEXT_TICK,
	IOLOOP_OP_TIMEOUT,
	IOLOOP_OP_CANCEL,
	IOLOOP_OP_ACCEPT,
	IOLOOP_OP_CONNECT,
	IOLOOP_OP_RECV,
	IOLOOP_OP_SEND,
	IOLOOP_OP_SENDTO,
	IOLOOP_OP_RECVFROM,
	IOLOOP_OP_SHUTDOWN,
	IOLOOP_OP_CLOSE,
	IOLOOP_OP_READ,
	IOLOOP_OP_WRITE,
	IOLOOP_OP_READV,
	IOLOOP_OP_WRITEV,
	IOLOOP_OP_WRITE_DURABLE,
	IOLOOP_OP_FSYNC,
	IOLOOP_OP_FDATASYNC,
	IOLOOP_OP_OPENAT,
	IOLOOP_OP_FALLOCATE,
	IOLOOP_OP_FTRUNCATE,
	IOLOOP_OP_RENAMEAT,
	IOLOOP_OP_UNLINKAT,
	IOLOOP_OP_MKDIRAT,
	IOLOOP_OP_LINKAT,
	IOLOOP_OP_SYMLINKAT,
	IOLOOP_OP_FADVISE,
	IOLOOP_OP_SYNC_FILE_RANGE,
	IOLOOP_OP_WAIT_EVENT,
	IOLOOP_OP_POST,
	IOLOOP_OP_STATX,
	IOLOOP_OP_SENDMSG,
	IOLOOP_OP_RECVMSG,
	IOLOOP_OP_SEND_ZC,
	IOLOOP_OP_LINK_TIMEOUT,
	IOLOOP_OP_RECV_POOLED,
	IOLOOP_OP_RECV_MULTISHOT,
	IOLOOP_OP_RECVFROM_MULTISHOT,
	IOLOOP_OP_ACCEPT_MULTISHOT,
	IOLOOP_OP_READ_FIXED,
	IOLOOP_OP_WRITE_FIXED,
	IOLOOP_OP_WRITEV_DURABLE
};

/* A completion's place in a chain (ioloop_cimpl.link). */
enum {
	IOLOOP_LINK_FIRST = 1, /* the chain's first operation: Go calls Loop.BeginChain before it */
	IOLOOP_LINK_LAST = 2   /* the chain's last operation: Go calls Loop.EndChain after it */
};

/* The layout of ioloop_completion's reserved room. Every field is an
 * integer or a C pointer: no Go pointer is ever stored in C memory. */
typedef struct ioloop_cimpl {
	struct ioloop_cimpl *next; /* the C submission list or the ready list */
	ioloop_callback cb;
	void *userdata;
	ioloop_loop *loop;
	uint32_t slot;    /* 1 + index of the Go-side slot in the loop slot_loop; 0: none yet */
	uint32_t slot_loop; /* id of the loop that owns slot (ids are never reused) */
	int32_t result;
	uint8_t state;
	uint8_t op;
	uint8_t link; /* IOLOOP_LINK_* */
	uint8_t more; /* a multishot operation's result with more to come: the completion stays pending */
	int32_t fd;
	uint32_t flags; /* openat, unlinkat, linkat, renameat, fadvise, sync_file_range, statx flags; shutdown how; durability */
	uint32_t mode;  /* openat, mkdirat, fallocate mode; statx mask */
	int32_t fd2;    /* the second directory of renameat, linkat, symlinkat */
	void *ptr;      /* buffer, iovec array, sockaddr, path, cancel target, event, msghdr, pool */
	uint64_t len;   /* buffer length, iovcnt, sockaddr length */
	int64_t offset; /* file offset; timeout ns */
	void *ptr2;     /* second path; recvfrom's sender buffer; sendto's sockaddr; statx's struct statx;
			 * a pooled receive's delivered buffer (pinned Go memory, see capi.go's cpool) */
	int64_t len2;   /* fallocate, ftruncate, fadvise, sync_file_range length; sockaddr length */
	void *ptr3;     /* recvfrom's socklen_t for the sender's length */
} ioloop_cimpl;

_Static_assert(sizeof(ioloop_cimpl) <= sizeof(ioloop_completion), "ioloop_cimpl must fit in ioloop_completion");

#define IOLOOP_LAST_ERROR_SIZE 256

/* The C half of a loop. The Go half (capi.go's cloop) is found by id. */
struct ioloop_loop {
	uint32_t id;
	int backend;
	int in_callback; /* a callback is running: driving or closing the loop is refused */
	int closed;
	ioloop_cimpl *sq_head, *sq_tail; /* submitted by C, not yet handed to Go */
	uint32_t sq_len;
	uint32_t pending; /* operations accepted whose callback has not started */
	int chain_open;   /* between ioloop_chain_begin and ioloop_chain_end */
	ioloop_cimpl *chain_last; /* the open chain's last operation so far (NULL: none yet) */
	char last_error[IOLOOP_LAST_ERROR_SIZE];
};

struct ioloop_pool {
	uint32_t loop_id;
	uint32_t index; /* in the Go loop's pools */
	ioloop_loop *loop;
	int closed;
};

struct ioloop_event {
	uint32_t loop_id;
	uint32_t index;
	ioloop_loop *loop;
};

/* Implemented in ioloop.c, called from Go. */
void ioloop__deliver(ioloop_loop *loop, ioloop_cimpl *head);
void ioloop__deliver_one(ioloop_loop *loop, ioloop_cimpl *c);
void ioloop__set_error(ioloop_loop *loop, const char *msg, size_t len);
extern const char *ioloop__errno_text[256];

#endif /* IOLOOP_IMPL_H */
