package ioloop

import "golang.org/x/sys/unix"

// probeDirectAlignment asks the kernel for the O_DIRECT alignment rules.
func probeDirectAlignment(file *DirectFile) {
	var stat unix.Statx_t
	if unix.Statx(file.FD, "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &stat) != nil {
		return
	}
	if stat.Mask&unix.STATX_DIOALIGN == 0 || stat.Dio_mem_align == 0 {
		return
	}
	file.MemoryAlignBytes = int(stat.Dio_mem_align)
	file.OffsetAlignBytes = int(stat.Dio_offset_align)
}
