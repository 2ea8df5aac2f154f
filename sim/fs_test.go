//go:build !windows

package sim_test

import (
	"testing"
	"time"

	"github.com/ioloop/ioloop"
	"github.com/ioloop/ioloop/sim"
	"golang.org/x/sys/unix"
)

// The file system's crash semantics seen through the public API: the
// "write temp, fsync, rename, fsync dir" protocol, with and without its
// last step, and durable writes.

// fsDriver runs one operation at a time on a node's loop and waits for it.
type fsDriver struct {
	t   *testing.T
	w   *sim.World
	l   *ioloop.Loop
	c   ioloop.Completion
	n   int
	err error
	ok  bool
}

func (d *fsDriver) onErr(_ *ioloop.Completion, err error)          { d.err, d.ok = err, true }
func (d *fsDriver) onCount(_ *ioloop.Completion, n int, err error) { d.n, d.err, d.ok = n, err, true }

// run submits with start and waits for the callback; it fails the test on
// an error.
func (d *fsDriver) run(what string, start func()) int {
	d.t.Helper()
	d.ok = false
	start()
	if done, err := d.w.RunUntil(time.Second, func() bool { return d.ok }); err != nil || !done {
		d.t.Fatalf("%s did not complete: %v", what, err)
	}
	if d.err != nil {
		d.t.Fatalf("%s: %v", what, d.err)
	}
	return d.n
}

// publish writes content to /data/name with the rename protocol, syncing
// the directory at the end only if syncDir.
func (d *fsDriver) publish(name, content string, syncDir bool) {
	l := d.l
	dir := d.run("open /data", func() {
		ioloop.OpenAt(l, &d.c, unix.AT_FDCWD, "/data", unix.O_RDONLY|unix.O_DIRECTORY, 0, d, (*fsDriver).onCount)
	})
	fd := d.run("create the temporary file", func() {
		ioloop.OpenAt(l, &d.c, dir, name+".tmp", unix.O_CREAT|unix.O_TRUNC|unix.O_WRONLY, 0o644, d, (*fsDriver).onCount)
	})
	d.run("write", func() { ioloop.Write(l, &d.c, fd, []byte(content), 0, d, (*fsDriver).onCount) })
	d.run("fsync", func() { ioloop.Fsync(l, &d.c, fd, d, (*fsDriver).onErr) })
	d.run("close", func() { ioloop.Close(l, &d.c, fd, d, (*fsDriver).onErr) })
	d.run("rename", func() { ioloop.Renameat(l, &d.c, dir, name+".tmp", dir, name, 0, d, (*fsDriver).onErr) })
	if syncDir {
		d.run("fsync the directory", func() { ioloop.Fsync(l, &d.c, dir, d, (*fsDriver).onErr) })
	}
	d.run("close the directory", func() { ioloop.Close(l, &d.c, dir, d, (*fsDriver).onErr) })
}

func TestRenameProtocolAndCrash(t *testing.T) {
	lost := 0
	for seed := uint64(1); seed <= 100; seed++ {
		for _, syncDir := range []bool{true, false} {
			w := sim.NewWorld(sim.Options{Seed: seed})
			n := w.AddNode("db")
			if err := n.MkdirAll("/data"); err != nil {
				t.Fatal(err)
			}
			n.WriteFile("/data/seg", []byte("old"))
			d := &fsDriver{t: t, w: w, l: n.Loop()}
			d.publish("seg", "new", syncDir)
			n.Crash()
			n.Restart()
			got, ok := n.ReadFile("/data/seg")
			switch {
			case syncDir && string(got) != "new":
				t.Fatalf("seed %d: the full protocol lost the new segment: %q, %v", seed, got, ok)
			case !ok || (string(got) != "new" && string(got) != "old"):
				t.Fatalf("seed %d: without the directory's fsync, /data/seg is %q (exists %v): the rename must be atomic", seed, got, ok)
			case string(got) == "old":
				lost++
			}
		}
	}
	t.Logf("without the directory's Fsync, the rename was undone by %d of 100 crashes", lost)
	if lost == 0 {
		t.Fatal("skipping the directory's Fsync never lost the rename")
	}
}

func TestDurableWriteAndTmpfsAcrossCrash(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		w := sim.NewWorld(sim.Options{Seed: seed})
		n := w.AddNode("db")
		n.WriteFile("/log", nil)
		d := &fsDriver{t: t, w: w, l: n.Loop()}
		l := d.l
		fd := d.run("open", func() {
			ioloop.OpenAt(l, &d.c, unix.AT_FDCWD, "/log", unix.O_WRONLY, 0, d, (*fsDriver).onCount)
		})
		d.run("WriteDurable", func() {
			ioloop.WriteDurable(l, &d.c, fd, []byte("committed"), 0, ioloop.DataSync, d, (*fsDriver).onCount)
		})
		shm := d.run("create in /dev/shm", func() {
			ioloop.OpenAt(l, &d.c, unix.AT_FDCWD, "/dev/shm/scratch", unix.O_CREAT|unix.O_WRONLY, 0o600, d, (*fsDriver).onCount)
		})
		d.run("fsync in /dev/shm", func() { ioloop.Fsync(l, &d.c, shm, d, (*fsDriver).onErr) })
		n.Crash()
		n.Restart()
		if got, _ := n.ReadFile("/log"); string(got) != "committed" {
			t.Fatalf("seed %d: a WriteDurable did not survive a crash: %q", seed, got)
		}
		if n.Exists("/dev/shm/scratch") {
			t.Fatalf("seed %d: a file in /dev/shm survived a crash", seed)
		}
	}
}

// TestSameSeedSameDisk: the disk a crash leaves depends on the seed only.
func TestSameSeedSameDisk(t *testing.T) {
	state := func(seed uint64) string {
		w := sim.NewWorld(sim.Options{Seed: seed})
		n := w.AddNode("db")
		n.MkdirAll("/data")
		d := &fsDriver{t: t, w: w, l: n.Loop()}
		for _, name := range []string{"a", "b", "c", "d"} {
			d.publish(name, name+name, false)
		}
		n.Crash()
		out := ""
		for _, name := range []string{"a", "b", "c", "d"} {
			for _, p := range []string{"/data/" + name, "/data/" + name + ".tmp"} {
				if got, ok := n.ReadFile(p); ok {
					out += p + "=" + string(got) + " "
				}
			}
		}
		return out + w.TraceHash()
	}
	differ := false
	for seed := uint64(1); seed <= 20; seed++ {
		a := state(seed)
		if b := state(seed); a != b {
			t.Fatalf("seed %d left two different disks:\n%s\n%s", seed, a, b)
		}
		differ = differ || a != state(seed+100)
	}
	if !differ {
		t.Fatal("every seed left the same disk")
	}
}
