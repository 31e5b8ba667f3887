package faults

import (
	"flag"
	"os"
	"strconv"
	"sync"
	"testing"
)

// scenariosAtOnce is how many scenarios run at once: all those that call
// t.Parallel, after the rest. Each runs on a Redis, simulators, ports,
// directories or a compose project of its own, and spends most of its time
// waiting — for asynq's recoverer, for a fault to last its time — not
// computing, so even two cores overlap those waits.
const scenariosAtOnce = 8

var composeMu sync.Mutex

// composeOneAtATime keeps the compose scenarios from running at the same
// time as each other, for the rest of t: both load dockerd, and once, side
// by side, the sentinels never failed over (they could not resolve the dead
// primary's name in time: compose.sentinel.yaml now bounds that lookup).
func composeOneAtATime(t *testing.T) {
	composeMu.Lock()
	t.Cleanup(composeMu.Unlock)
}

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set { // go test's default is GOMAXPROCS: two at once here
		_ = flag.Set("test.parallel", strconv.Itoa(scenariosAtOnce))
	}
	os.Exit(m.Run())
}
