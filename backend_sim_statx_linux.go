package ioloop

import (
	"github.com/ioloop/ioloop/internal/simcore"
	"golang.org/x/sys/unix"
)

func simStatFlags(flags uint32) uint32 {
	var out uint32
	if flags&unix.AT_EMPTY_PATH != 0 {
		out |= simcore.StatEmptyPath
	}
	if flags&unix.AT_SYMLINK_NOFOLLOW != 0 {
		out |= simcore.StatNoFollow
	}
	return out
}

// fillSimStat fills the fields of struct statx the simulator knows.
func fillSimStat(out *unix.Statx_t, st *simcore.Stat) {
	*out = unix.Statx_t{
		Mask:    unix.STATX_BASIC_STATS,
		Blksize: st.BlockBytes,
		Nlink:   st.Nlink,
		Mode:    uint16(st.Mode),
		Size:    uint64(st.SizeBytes),
		Blocks:  uint64(st.Blocks),
		Ino:     st.Ino,
	}
}
