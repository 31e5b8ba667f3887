// Package testutil is what the tests of several packages share: a Redis per
// test (miniredis, or a real redis-server for what miniredis may get wrong,
// such as Lua scripts and expiries, or both in turn with OnEachRedis), a wait
// on a condition instead of a fixed sleep, a log sink to read while
// goroutines write, and seeding helpers. Only tests, test helper packages
// (sweeptest) and integration/ import it.
package testutil

import (
	"fmt"
	"testing"
	"time"
)

// Eventually polls cond until it holds, and fails the test with the message
// if it does not within timeout. Arguments are formatted at the failure; wrap
// one in Later to show what cond saw last.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; !cond(); wait = min(2*wait, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf(format, args...)
		}
		time.Sleep(wait)
	}
}

// Later is a message argument of Eventually computed when the wait fails
// rather than when Eventually is called: the last state a condition saw, or
// a process's output so far.
type Later func() any

// Format formats the value Later returns, with the verb and flags it was
// given (%+v keeps field names).
func (l Later) Format(f fmt.State, verb rune) { fmt.Fprintf(f, fmt.FormatString(f, verb), l()) }
