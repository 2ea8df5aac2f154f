package main

import (
	"fmt"
	"strings"

	"github.com/ioloop/ioloop/bench/internal/kv"
	"github.com/ioloop/ioloop/bench/internal/results"
)

// kvConfig sizes the kv workload: redis-benchmark with clients
// connections, at each pipeline depth, requests per test.
type kvConfig struct {
	clients   int
	pipelines []int
	requests  map[int]int // per pipeline depth: deeper pipelines run more requests in the same time
}

func fullKVConfig() kvConfig {
	return kvConfig{clients: 50, pipelines: []int{1, 16}, requests: map[int]int{1: 200_000, 16: 1_000_000}}
}

func quickKVConfig() kvConfig {
	return kvConfig{clients: 50, pipelines: []int{1, 16}, requests: map[int]int{1: 10_000, 16: 50_000}}
}

func (c kvConfig) describe() string {
	var n []string
	for _, p := range c.pipelines {
		n = append(n, fmt.Sprintf("-P %d -n %d", p, c.requests[p]))
	}
	return fmt.Sprintf("kv: redis-benchmark -c %d -t %s, %s, against %v (server on the first CPU, redis-benchmark on the second)",
		c.clients, strings.Join(kv.Tests, ","), strings.Join(n, " and "), kv.Contenders)
}

// planKV adds the kv workload's steps for one repetition: examples/kv is
// built once, then every pipeline depth runs every contender in turn.
func (r *runner) planKV(rep int) {
	c := r.cfg.kv
	if version, ok := kv.Available(); !ok {
		if rep == 1 {
			r.note("kv skipped: " + version)
		}
		return
	}
	binary := kv.DefaultBinary()
	if rep == 1 {
		r.add("kv: build examples/kv", func() (string, error) {
			root := repoRoot()
			if root == "" {
				return "", fmt.Errorf("no repository above the working directory to build examples/kv from")
			}
			return binary, kv.Build(root, binary)
		})
	}
	for _, pipeline := range c.pipelines {
		for _, impl := range kv.Contenders {
			r.add(fmt.Sprintf("kv %s -c %d -P %d", impl, c.clients, pipeline), func() (string, error) {
				rows, err := kv.Run(kv.Config{Contender: impl, Clients: c.clients, Pipeline: pipeline,
					Requests: c.requests[pipeline], KVBinary: binary, ServerCPU: r.serverCPU, ClientCPU: r.clientCPU})
				if err != nil {
					return "", err
				}
				var summary []string
				for _, row := range rows {
					r.doc.KV = append(r.doc.KV, results.KV{Contender: impl, Clients: c.clients, Pipeline: pipeline, Rep: rep, Result: row})
					summary = append(summary, fmt.Sprintf("%s %.1fk req/s, %.2f µs srv CPU/req, p99 %.0f µs, util srv %.2f client %.2f",
						row.Test, row.RequestsPerSec/1e3, row.ServerCPUusPerReq, row.P99us, row.ServerCPUUtil, row.ClientCPUUtil))
				}
				return strings.Join(summary, "; "), nil
			})
		}
	}
}
