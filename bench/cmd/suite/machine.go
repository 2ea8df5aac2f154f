package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ioloop/ioloop/bench/internal/results"
	"golang.org/x/sys/unix"
)

// describeMachine fills in what the results are about: when, on what, and
// which commit of the library.
func describeMachine() results.Meta {
	m := results.Meta{
		Date:    time.Now().UTC().Format("2006-01-02 15:04 MST"),
		Machine: cpuModel(),
		CPUs:    runtime.NumCPU(),
		Go:      runtime.Version(),
		Commit:  commit(),
	}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		m.Kernel = unix.ByteSliceToString(uts.Release[:])
	}
	return m
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// commit is the git commit of the library this binary was built with
// (the bench module's replace directive, or a go.work's), with "+dirty"
// when the library's files differ from it (the suite's own and the docs
// do not count); "unknown" outside a git checkout.
func commit() string {
	dir := libraryDir()
	out, err := exec.Command("git", "-C", dir, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	status, err := exec.Command("git", "--no-optional-locks", "-C", dir, "status", "--porcelain", "--untracked-files=no",
		"--", ".", ":(exclude)bench", ":(exclude)docs").Output()
	if err == nil && len(status) > 0 {
		c += "+dirty"
	}
	return c
}

// libraryDir is where the ioloop module this binary was built from lives.
func libraryDir() string {
	root := repoRoot()
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/ioloop/ioloop" && dep.Replace != nil {
				if filepath.IsAbs(dep.Replace.Path) {
					return dep.Replace.Path
				}
				return filepath.Join(root, "bench", dep.Replace.Path)
			}
		}
	}
	return root
}
