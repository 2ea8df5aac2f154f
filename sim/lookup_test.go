package sim_test

import (
	"errors"
	"net"
	"testing"

	"github.com/ioloop/ioloop/sim"
)

func TestLookupHost(t *testing.T) {
	w := sim.NewWorld(sim.Options{Seed: 1})
	a, b := w.AddNode("a"), w.AddNode("db")
	for _, n := range []*sim.Node{a, b} {
		addrs, err := w.LookupHost(n.Name())
		if err != nil || len(addrs) != 1 || addrs[0] != n.Addr() {
			t.Errorf("LookupHost(%q) = %v, %v; want [%v]", n.Name(), addrs, err, n.Addr())
		}
	}
	_, err := w.LookupHost("nosuch")
	var dns *net.DNSError
	if !errors.As(err, &dns) || !dns.IsNotFound || dns.Name != "nosuch" {
		t.Errorf("LookupHost of an unknown name: %v, want a not-found *net.DNSError", err)
	}
}
