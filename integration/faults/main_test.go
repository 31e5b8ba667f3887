package faults

import (
	"flag"
	"os"
	"strconv"
	"testing"
)

// scenariosAtOnce is how many scenarios run at once: all of them. Each runs
// on a Redis, simulators, ports, directories or a compose project of its own
// (t.Parallel), and spends most of its time waiting — for asynq's recoverer,
// for a fault to last its time — not computing, so even two cores overlap
// those waits.
const scenariosAtOnce = 8

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set { // go test's default is GOMAXPROCS: two at once here
		_ = flag.Set("test.parallel", strconv.Itoa(scenariosAtOnce))
	}
	os.Exit(m.Run())
}
