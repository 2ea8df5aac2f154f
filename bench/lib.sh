# bench/lib.sh - shell helpers shared by the benchmark scripts (sourced).

# ensure_bench_file PATH MIB: make PATH a file of exactly MIB MiB of random
# data (not sparse: reads must reach the device), reusing it if it exists
# with that size. It writes to a temporary name and renames, so that an
# interrupted run never leaves a short file that later runs would trust.
ensure_bench_file() {
	local path=$1 mib=$2
	if [[ -f $path && $(stat -c %s "$path") -eq $((mib * 1024 * 1024)) ]]; then
		return
	fi
	echo "# creating $path (${mib} MiB from /dev/urandom)" >&2
	dd if=/dev/urandom of="$path.tmp" bs=1M count="$mib" conv=fsync status=none
	mv -f "$path.tmp" "$path"
}
