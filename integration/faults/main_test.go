package faults

import (
	"flag"
	"os"
	"strconv"
	"testing"
)

// hostScenarios is how many scenarios run at once. Those that run only
// processes of this machine (t.Parallel: a Redis, simulators, ports and
// directories of their own) spend most of their time waiting — for asynq's
// recoverer, for a fault to last its time — not computing, so even two
// cores overlap those waits. The scenarios on compose projects do not call
// t.Parallel: they run alone, before the others.
const hostScenarios = 6

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set { // go test's default is GOMAXPROCS: two at once here
		_ = flag.Set("test.parallel", strconv.Itoa(hostScenarios))
	}
	os.Exit(m.Run())
}
