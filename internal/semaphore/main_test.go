package semaphore

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain also checks that every released slot stops its renewal goroutine.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
