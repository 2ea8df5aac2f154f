package files

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FioVersion returns fio's version, or why fio cannot run.
func FioVersion() (version string, ok bool) {
	path, err := exec.LookPath("fio")
	if err != nil {
		return "fio not installed", false
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "fio --version failed: " + err.Error(), false
	}
	return strings.TrimSpace(string(out)), true
}

// RunFio runs fio's io_uring engine with the same workload as
// RandomReads: 4 KiB random O_DIRECT reads of path at qd, one job, for d
// after a ramp of d/10. CPU per I/O comes from fio's own usr_cpu and
// sys_cpu (percent of the runtime).
func RunFio(path string, qd int, d time.Duration, scratch string) (ReadResult, error) {
	out := filepath.Join(scratch, "fio.json")
	defer os.Remove(out)
	msecs := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }
	cmd := exec.Command("fio", "--name=randread", "--filename="+path, "--ioengine=io_uring",
		"--direct=1", "--rw=randread", "--bs="+strconv.Itoa(BlockSize), "--iodepth="+strconv.Itoa(qd),
		"--numjobs=1", "--time_based", "--runtime="+msecs(d), "--ramp_time="+msecs(d/10),
		"--output-format=json", "--output="+out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return ReadResult{}, fmt.Errorf("fio: %v: %s", err, strings.TrimSpace(string(msg)))
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return ReadResult{}, err
	}
	// fio may print notices into the file before the JSON document.
	if i := bytes.IndexByte(raw, '{'); i > 0 {
		raw = raw[i:]
	}
	var report struct {
		Jobs []struct {
			Error  int     `json:"error"`
			UsrCPU float64 `json:"usr_cpu"`
			SysCPU float64 `json:"sys_cpu"`
			Read   struct {
				IOPS      float64 `json:"iops"`
				TotalIOs  int64   `json:"total_ios"`
				RuntimeMs float64 `json:"runtime"`
			} `json:"read"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(raw, &report); err != nil {
		return ReadResult{}, fmt.Errorf("fio's JSON: %w", err)
	}
	if len(report.Jobs) != 1 || report.Jobs[0].Error != 0 || report.Jobs[0].Read.TotalIOs == 0 {
		return ReadResult{}, errors.New("fio reported an error or no I/O: " + string(raw))
	}
	job := report.Jobs[0]
	seconds := job.Read.RuntimeMs / 1e3
	cpu := (job.UsrCPU + job.SysCPU) / 100 * seconds
	return ReadResult{
		Ops:        job.Read.TotalIOs,
		Seconds:    seconds,
		IOPS:       job.Read.IOPS,
		CPUusPerIO: cpu * 1e6 / float64(job.Read.TotalIOs),
	}, nil
}
