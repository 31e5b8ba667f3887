// Package bench is `make bench`: every figure of the performance table
// measured against its reference in the same run, printed as a table and
// written to bench/results.json. See bench/README.md.
package bench_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/handlers"
	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/metrics"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

var (
	out     = flag.String("bench.out", "results.json", "where BenchmarkTable writes its rows as JSON")
	rounds  = flag.Int("bench.rounds", 3, "rounds of each figure and its reference; the table gives medians")
	withS3  = flag.Bool("bench.s3", true, "run the S3 figure (docker, the image lifecycle-s3:dev from make images)")
	quick   = flag.Bool("bench.quick", false, "smaller sizes, for trying the harness")
	only    = flag.String("bench.only", "", "run only these figures, comma-separated (noop,photo,pickup,enqueue,erasure,sweep,merge,s3), e.g. with -cpuprofile")
	checkIv = flag.Duration("bench.check-interval", config.TaskCheckIntervalDefault, "the worker's task check interval (0: asynq's default, 1 s)")
)

// Row is one line of the table.
type Row struct {
	Figure    string  `json:"figure"`
	Value     float64 `json:"value"`
	Unit      string  `json:"unit"`
	Reference string  `json:"reference"`
	RefValue  float64 `json:"reference_value"`
	// Ratio is ours against the reference, so that higher is better for
	// rates, and lower for durations.
	Ratio float64 `json:"ratio"`
	Goal  string  `json:"goal"`
	Pass  bool    `json:"pass"`
	Note  string  `json:"note,omitempty"`
	// Skipped rows were not measured in this run; Note says why.
	Skipped bool `json:"skipped,omitempty"`
}

// Results is what results.json holds.
type Results struct {
	Started  time.Time `json:"started"`
	Duration string    `json:"duration"`
	Rounds   int       `json:"rounds"`
	Quick    bool      `json:"quick"`
	Rows     []Row     `json:"rows"`
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func percentile(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := int(p*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// size is n, or n/div with -bench.quick.
func size(n, div int) int {
	if *quick {
		return max(n/div, 1)
	}
	return n
}

// env is what every figure shares: one real redis-server.
type env struct {
	addr string
	rdb  *redis.Client
	opt  asynq.RedisClientOpt
}

func (e *env) flush(b *testing.B) {
	b.Helper()
	if err := e.rdb.FlushAll(context.Background()).Err(); err != nil {
		b.Fatal(err)
	}
}

// ours wraps h in the worker's outcome middleware, with logging (JSON, to
// nowhere) and metrics, as the worker registers its handlers.
func ours(pattern string, h asynq.Handler) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	log := zerolog.New(io.Discard).Level(zerolog.InfoLevel)
	reg := metrics.New(nil)
	mux.Use(handlers.Outcomes(log, reg.Tasks, time.Now, &handlers.Running{}))
	mux.Handle(pattern, h)
	return mux
}

// bare registers h with nothing around it.
func bare(pattern string, h asynq.Handler) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Handle(pattern, h)
	return mux
}

// server is the worker's asynq server (handlers.NewServer) on e.
func (e *env) server(queues map[string]int) *asynq.Server {
	return e.serverEvery(queues, *checkIv)
}

func (e *env) serverEvery(queues map[string]int, check time.Duration) *asynq.Server {
	return handlers.NewServer(handlers.ServerParams{
		Redis: e.opt, Concurrency: 10, Queues: queues, ShutdownTimeout: 5 * time.Second,
		Log: zerolog.Nop(), TaskCheckInterval: check,
	})
}

// counting counts handled tasks and notes when the first and the n-th end.
type counting struct {
	n     int64
	done  atomic.Int64
	first atomic.Int64 // unix nanos of the first start
	// inHandler is the time spent in the handler, all tasks together.
	inHandler atomic.Int64
	last      chan struct{}
	handler   asynq.Handler
}

func newCounting(n int, h asynq.Handler) *counting {
	return &counting{n: int64(n), last: make(chan struct{}), handler: h}
}

func (c *counting) ProcessTask(ctx context.Context, t *asynq.Task) error {
	t0 := time.Now()
	c.first.CompareAndSwap(0, t0.UnixNano())
	err := c.handler.ProcessTask(ctx, t)
	c.inHandler.Add(int64(time.Since(t0)))
	if c.done.Add(1) == c.n {
		close(c.last)
	}
	return err
}

var noop = asynq.HandlerFunc(func(context.Context, *asynq.Task) error { return nil })

// drain starts a server on a queue already holding n tasks and returns the
// tasks/s from the first task's start to the n-th task's end, so that the
// server's start-up is not counted.
func (e *env) drain(b *testing.B, n int, queues map[string]int, mux func(asynq.Handler) *asynq.ServeMux, h asynq.Handler) float64 {
	rate, _ := e.drainTimed(b, n, queues, mux, h)
	return rate
}

// drainTimed is drain that also returns the mean time in the handler, in ms.
func (e *env) drainTimed(b *testing.B, n int, queues map[string]int, mux func(asynq.Handler) *asynq.ServeMux, h asynq.Handler) (float64, float64) {
	b.Helper()
	c := newCounting(n, h)
	srv := e.server(queues)
	if err := srv.Start(mux(c)); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	select {
	case <-c.last:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d tasks done after 5 minutes", c.done.Load(), n)
	}
	end := time.Now()
	return float64(n) / end.Sub(time.Unix(0, c.first.Load())).Seconds(), float64(c.inHandler.Load()) / float64(n) / 1e6
}

// enqueueNoops puts n no-op tasks on queue "default" with a pipeline.
func (e *env) enqueueNoops(b *testing.B, n int) {
	b.Helper()
	c := asynq.NewClientFromRedisClient(e.rdb)
	for i := range n {
		if _, err := c.Enqueue(asynq.NewTask("bench:noop", nil), asynq.TaskID(fmt.Sprintf("noop-%d", i))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTable(b *testing.B) {
	if b.N > 1 {
		b.Skip("run with -benchtime=1x: the table is one run")
	}
	addr, rdb := testutil.RealRedis(b)
	e := &env{addr: addr, rdb: rdb, opt: asynq.RedisClientOpt{Addr: addr}}
	res := Results{Started: time.Now().UTC(), Rounds: *rounds, Quick: *quick}
	figures := []struct {
		name string
		run  func(*testing.B, *env) []Row
	}{
		{"noop", benchNoop},
		{"photo", benchPhoto},
		{"pickup", benchPickup},
		{"enqueue", benchEnqueue},
		{"erasure", benchErasure},
		{"sweep", benchSweep},
		{"merge", benchMerge},
		{"s3", benchS3},
	}
	for _, f := range figures {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), f.name) {
			continue
		}
		t0 := time.Now()
		rows := f.run(b, e)
		b.Logf("%s: %v", f.name, time.Since(t0).Round(time.Millisecond))
		res.Rows = append(res.Rows, rows...)
	}
	res.Duration = time.Since(res.Started).Round(time.Second).String()
	print(os.Stdout, res)
	j, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(*out, append(j, '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
}

func print(w io.Writer, res Results) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nfigure\tnow\treference\tratio\tgoal\tpass\n")
	for _, r := range res.Rows {
		pass := "yes"
		switch {
		case r.Skipped:
			pass = "—"
		case !r.Pass:
			pass = "NO"
		}
		ratio := "—"
		if r.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		ref := r.Reference
		if r.RefValue != 0 || r.Unit != "" && strings.HasPrefix(r.Reference, r.Unit) {
			ref = fmt.Sprintf("%s %s", num(r.RefValue), r.Reference)
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\t%s\n", r.Figure, num(r.Value), r.Unit, ref, ratio, r.Goal, pass)
		if r.Note != "" {
			fmt.Fprintf(tw, "  %s\t\t\t\t\t\n", r.Note)
		}
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d rounds, medians; %s in all; absolute figures are noisy here, ratios in one run are what count\n", res.Rounds, res.Duration)
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
	}
}
