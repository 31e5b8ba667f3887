package faults

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a server, client or Redis running.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
