package conn_test

import "testing"

// countProcessFDs returns -1 on Windows, every time: the process's handle
// count also moves with the Go runtime's own handles (an event per
// thread), so it cannot tell a leaked socket. The tests' "back to the
// baseline" comparisons therefore hold trivially on Windows while the
// rest of each test runs; the Linux runs of the same tests are the leak
// checks.
func countProcessFDs(t *testing.T) int {
	t.Helper()
	return -1
}
