//go:build linux

// Package uring is the io_uring ring itself: the kernel ABI (structures and
// constants from include/uapi/linux/io_uring.h), ring setup and mmap, SQE
// preparation, io_uring_enter and the opcode probe. It knows nothing about
// completions or callbacks; the ioloop package builds the event loop on top.
package uring

import "strconv"

// Opcodes (enum io_uring_op). Only the values are ABI; the names follow the
// kernel's IORING_OP_* constants.
const (
	OpNop           uint8 = 0
	OpReadv         uint8 = 1
	OpWritev        uint8 = 2
	OpFsync         uint8 = 3
	OpSyncFileRange uint8 = 8
	OpSendmsg       uint8 = 9
	OpRecvmsg       uint8 = 10
	OpTimeout       uint8 = 11
	OpLinkTimeout   uint8 = 15 // bounds the SQE linked before it (5.5)
	OpAccept        uint8 = 13
	OpAsyncCancel   uint8 = 14
	OpConnect       uint8 = 16
	OpFallocate     uint8 = 17
	OpOpenat        uint8 = 18
	OpClose         uint8 = 19
	OpStatx         uint8 = 21
	OpRead          uint8 = 22
	OpWrite         uint8 = 23
	OpFadvise       uint8 = 24
	OpSend          uint8 = 26
	OpRecv          uint8 = 27
	OpShutdown      uint8 = 34
	OpRenameat      uint8 = 35 // 5.11
	OpUnlinkat      uint8 = 36 // 5.11
	OpMkdirat       uint8 = 37 // 5.15
	OpSymlinkat     uint8 = 38 // 5.15
	OpLinkat        uint8 = 39 // 5.15
	OpMsgRing       uint8 = 40
	OpFtruncate     uint8 = 55 // 6.9
)

// opNames names the opcodes the kernel may report in a probe, for
// diagnostics (`ioloop info`). Index = opcode.
var opNames = [...]string{
	"NOP", "READV", "WRITEV", "FSYNC", "READ_FIXED", "WRITE_FIXED", "POLL_ADD",
	"POLL_REMOVE", "SYNC_FILE_RANGE", "SENDMSG", "RECVMSG", "TIMEOUT",
	"TIMEOUT_REMOVE", "ACCEPT", "ASYNC_CANCEL", "LINK_TIMEOUT", "CONNECT",
	"FALLOCATE", "OPENAT", "CLOSE", "FILES_UPDATE", "STATX", "READ", "WRITE",
	"FADVISE", "MADVISE", "SEND", "RECV", "OPENAT2", "EPOLL_CTL", "SPLICE",
	"PROVIDE_BUFFERS", "REMOVE_BUFFERS", "TEE", "SHUTDOWN", "RENAMEAT",
	"UNLINKAT", "MKDIRAT", "SYMLINKAT", "LINKAT", "MSG_RING", "FSETXATTR",
	"SETXATTR", "FGETXATTR", "GETXATTR", "SOCKET", "URING_CMD", "SEND_ZC",
	"SENDMSG_ZC", "READ_MULTISHOT", "WAITID", "FUTEX_WAIT", "FUTEX_WAKE",
	"FUTEX_WAITV", "FIXED_FD_INSTALL", "FTRUNCATE", "BIND", "LISTEN", "RECV_ZC",
	"EPOLL_WAIT", "READV_FIXED", "WRITEV_FIXED", "PIPE",
}

// OpName returns the kernel name of an opcode, or "OP_<n>" for opcodes
// newer than this table.
func OpName(op uint8) string {
	if int(op) < len(opNames) {
		return opNames[op]
	}
	return "OP_" + strconv.Itoa(int(op))
}

// Setup flags (io_uring_params.flags).
const (
	SetupCQSize       uint32 = 1 << 3
	SetupClamp        uint32 = 1 << 4
	SetupSubmitAll    uint32 = 1 << 7
	SetupCoopTaskrun  uint32 = 1 << 8
	SetupTaskrunFlag  uint32 = 1 << 9
	SetupSingleIssuer uint32 = 1 << 12
	SetupDeferTaskrun uint32 = 1 << 13
	SetupNoSQArray    uint32 = 1 << 16
)

// Feature flags (io_uring_params.features).
const (
	FeatSingleMmap     uint32 = 1 << 0
	FeatNodrop         uint32 = 1 << 1
	FeatSubmitStable   uint32 = 1 << 2
	FeatRWCurPos       uint32 = 1 << 3
	FeatCurPersonality uint32 = 1 << 4
	FeatFastPoll       uint32 = 1 << 5
	FeatPoll32Bits     uint32 = 1 << 6
	FeatSQPollNonfixed uint32 = 1 << 7
	FeatExtArg         uint32 = 1 << 8
	FeatNativeWorkers  uint32 = 1 << 9
	FeatRsrcTags       uint32 = 1 << 10
	FeatCQESkip        uint32 = 1 << 11
	FeatLinkedFile     uint32 = 1 << 12
	FeatRegRegRing     uint32 = 1 << 13
	FeatRecvSendBundle uint32 = 1 << 14
	FeatMinTimeout     uint32 = 1 << 15
	FeatRWAttr         uint32 = 1 << 16
	FeatNoIOWait       uint32 = 1 << 17
)

var featureNames = [...]string{
	"SINGLE_MMAP", "NODROP", "SUBMIT_STABLE", "RW_CUR_POS", "CUR_PERSONALITY",
	"FAST_POLL", "POLL_32BITS", "SQPOLL_NONFIXED", "EXT_ARG", "NATIVE_WORKERS",
	"RSRC_TAGS", "CQE_SKIP", "LINKED_FILE", "REG_REG_RING", "RECVSEND_BUNDLE",
	"MIN_TIMEOUT", "RW_ATTR", "NO_IOWAIT",
}

// FeatureNames lists the names of the feature bits set in features.
func FeatureNames(features uint32) []string {
	var names []string
	for bit := 0; bit < 32; bit++ {
		if features&(1<<bit) == 0 {
			continue
		}
		if bit < len(featureNames) {
			names = append(names, featureNames[bit])
		} else {
			names = append(names, "FEAT_BIT_"+strconv.Itoa(bit))
		}
	}
	return names
}

// io_uring_enter flags.
const (
	EnterGetEvents uint32 = 1 << 0
	EnterExtArg    uint32 = 1 << 3
)

// SQ ring flags (the kernel writes them; we read them).
const (
	sqNeedWakeup uint32 = 1 << 0
	sqCQOverflow uint32 = 1 << 1
	sqTaskrun    uint32 = 1 << 2
)

// SQE flags (io_uring_sqe.flags).
const (
	// SQEIOLink (IOSQE_IO_LINK, 5.3) makes the next SQE of the same
	// submission wait for this one and fail with ECANCELED if it fails.
	SQEIOLink uint8 = 1 << 2
	// SQECQESkipSuccess (IOSQE_CQE_SKIP_SUCCESS, 5.17, FeatCQESkip) posts
	// no CQE when the request succeeds.
	SQECQESkipSuccess uint8 = 1 << 6
)

// MsgRingData is IORING_MSG_DATA, the MSG_RING command (in sqe.addr) that
// posts a CQE to the target ring with user_data = sqe.off and res = sqe.len.
const MsgRingData uint64 = 0

// Per-opcode flags.
const (
	FsyncDatasync uint32 = 1 << 0 // IORING_FSYNC_DATASYNC in fsync_flags
)

// Where the file-system opcodes take their arguments (io_uring/fs.c,
// sync.c, advise.c, truncate.c), in SQE field names:
//
//	FALLOCATE        fd, Off offset, Addr length (64 bits), Len mode
//	FTRUNCATE        fd, Off length
//	FADVISE          fd, Off offset, Len length (32 bits; newer kernels, from about 6.12, also read a 64-bit Addr, which older ones reject with EINVAL), OpFlags advice
//	SYNC_FILE_RANGE  fd, Off offset, Len length (32 bits), OpFlags flags
//	RENAMEAT         fd old dirfd, Addr old path, Len new dirfd, Off new path (addr2), OpFlags rename flags
//	LINKAT           as RENAMEAT, OpFlags AT_ flags
//	UNLINKAT         fd dirfd, Addr path, OpFlags AT_REMOVEDIR
//	MKDIRAT          fd dirfd, Addr path, Len mode
//	SYMLINKAT        fd new dirfd, Addr target, Off link path (addr2)
//
// WRITE and WRITEV take RWF_DSYNC or RWF_SYNC (linux/fs.h) in OpFlags
// (rw_flags), as pwritev2(2) does.
const (
	RWFDSync uint32 = 0x2 // RWF_DSYNC
	RWFSync  uint32 = 0x4 // RWF_SYNC
)

// mmap offsets.
const (
	offSQRing uintptr = 0
	offCQRing uintptr = 0x8000000
	offSQEs   uintptr = 0x10000000
)

// io_uring_register opcodes.
const (
	registerProbe uintptr = 8
)

// probeOpSupported is IO_URING_OP_SUPPORTED in io_uring_probe_op.flags.
const probeOpSupported uint16 = 1 << 0

// sqRingOffsets is struct io_sqring_offsets.
type sqRingOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

// cqRingOffsets is struct io_cqring_offsets.
type cqRingOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// Params is struct io_uring_params.
type Params struct {
	SQEntries    uint32
	CQEntries    uint32
	Flags        uint32
	SQThreadCPU  uint32
	SQThreadIdle uint32
	Features     uint32
	WQFd         uint32
	resv         [3]uint32
	sqOff        sqRingOffsets
	cqOff        cqRingOffsets
}

// SQE is struct io_uring_sqe (64 bytes). Fields that the kernel overloads
// through unions carry the name of their most common use; comments list the
// other meanings we rely on.
type SQE struct {
	Opcode      uint8
	Flags       uint8
	IOPrio      uint16
	Fd          int32
	Off         uint64 // file offset; addr2 (accept addrlen ptr, statx buffer); connect addrlen; timeout count
	Addr        uint64 // buffer / iovec / sockaddr / path / timespec / cancel target user_data
	Len         uint32 // byte or iovec count; open mode; statx mask; shutdown how
	OpFlags     uint32 // rw_flags, fsync_flags, msg_flags, timeout_flags, accept_flags, open_flags, statx_flags, cancel_flags
	UserData    uint64
	BufIndex    uint16
	Personality uint16
	FileIndex   int32
	Addr3       uint64
	pad2        uint64
}

// CQE is struct io_uring_cqe (16 bytes, no CQE32).
type CQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

// getEventsArg is struct io_uring_getevents_arg, passed with
// IORING_ENTER_EXT_ARG so that io_uring_enter can wait with a timeout
// without a timeout SQE.
type getEventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	minWaitUs uint32
	ts        uint64
}

// kernelTimespec is struct __kernel_timespec.
type kernelTimespec struct {
	sec  int64
	nsec int64
}

// probe is struct io_uring_probe with room for 256 io_uring_probe_op.
type probe struct {
	lastOp uint8
	opsLen uint8
	resv   uint16
	resv2  [3]uint32
	ops    [256]probeOp
}

type probeOp struct {
	op    uint8
	resv  uint8
	flags uint16
	resv2 uint32
}
