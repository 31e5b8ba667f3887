package bigin_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(envHelper) == "1" {
		// A helper process stands for a worker process: its keep-alive
		// connections to the simulator end with it, as a worker's do.
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}
