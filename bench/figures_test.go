package bench_test

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/minio/minio-go/v7"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/handlers"
	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/merge"
	"github.com/lifecycle-worker/lifecycle/internal/photo"
	"github.com/lifecycle-worker/lifecycle/internal/semaphore"
	"github.com/lifecycle-worker/lifecycle/internal/sim/artifisim"
	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/storage/storagetest"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/internal/upstream"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/artifi"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

var defaultQueue = map[string]int{"default": 1}

// bareNoop is the reference of the throughput rows: n no-op tasks through
// bare asynq, tasks/s.
func (e *env) bareNoop(b *testing.B, n int) float64 {
	e.flush(b)
	e.enqueueNoops(b, n)
	return e.drain(b, n, defaultQueue, func(h asynq.Handler) *asynq.ServeMux { return bare("bench:noop", h) }, noop)
}

// bareNoopAs is bareNoop with the photo tasks' queue and options, on the
// worker's four weighted queues: the part of the gap that is asynq's.
func (e *env) bareNoopAs(b *testing.B, n int) float64 {
	e.flush(b)
	c := asynq.NewClientFromRedisClient(e.rdb)
	for i := range n {
		if _, err := c.Enqueue(asynq.NewTask("bench:noop", nil), asynq.TaskID(fmt.Sprintf("noop-%d", i)),
			asynq.Queue(tasks.QueuePhoto), asynq.Retention(24*time.Hour), asynq.MaxRetry(20), asynq.Timeout(2*time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	return e.drain(b, n, tasks.QueueWeights(), func(h asynq.Handler) *asynq.ServeMux { return bare("bench:noop", h) }, noop)
}

func benchNoop(b *testing.B, e *env) []Row {
	n := size(10000, 10)
	var ourRates, refRates []float64
	for r := range *rounds {
		ourRun := func() {
			e.flush(b)
			e.enqueueNoops(b, n)
			ourRates = append(ourRates, e.drain(b, n, defaultQueue, func(h asynq.Handler) *asynq.ServeMux { return ours("bench:noop", h) }, noop))
		}
		// Each goes first in turn, so that a drift in the machine's load
		// favours neither.
		if r%2 == 1 {
			ourRun()
		}
		refRates = append(refRates, e.bareNoop(b, n))
		if r%2 == 0 {
			ourRun()
		}
	}
	v, r := median(ourRates), median(refRates)
	return []Row{{
		Figure: fmt.Sprintf("no-op tasks through our middleware (%d)", n), Value: v, Unit: "tasks/s",
		Reference: "tasks/s bare asynq no-op", RefValue: r, Ratio: v / r, Goal: "≥ 0.95", Pass: v/r >= 0.95,
	}}
}

// artifiSim starts a zero-latency Artifi simulator and a client of it
// behind limit (nil: none; the worker's is the cross-process semaphore).
func (e *env) artifiSim(b *testing.B, limit upstream.Limiter) (*artifisim.Server, *artifi.Client) {
	b.Helper()
	sim := artifisim.New(artifisim.Options{WebsiteID: 7, ClientKey: "bench-key"})
	url, err := sim.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sim.Close)
	c, err := artifi.New(artifi.Config{BaseURL: url, WebsiteID: 7, ClientKey: "bench-key", Limiter: limit})
	if err != nil {
		b.Fatal(err)
	}
	return sim, c
}

// enqueuePhotos adds n photos to user in sim and enqueues an artifi-v3
// photo:delete for each.
func (e *env) enqueuePhotos(b *testing.B, sim *artifisim.Server, user string, n int) {
	b.Helper()
	sim.AddUser(user)
	tc := tasks.WrapClient(asynq.NewClientFromRedisClient(e.rdb))
	for _, id := range sim.AddPhotos(user, n) {
		if _, err := tc.EnqueuePhotoDelete(context.Background(), tasks.PhotoDeletePayload{System: tasks.SystemArtifiV3, UserID: user, PhotoID: id}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchPhoto(b *testing.B, e *env) []Row {
	n := size(3000, 10)
	sim, client := e.artifiSim(b, semaphore.New(e.rdb, "artifi", config.UpstreamLimitDefault))
	_, unlimited := e.artifiSim(b, nil)
	h := &handlers.PhotoDelete{Photos: &photo.Deleter{Artifi: client}}
	hu := &handlers.PhotoDelete{Photos: &photo.Deleter{Artifi: unlimited}}
	var ourRates, refRates, unlimitedRates, inHandler, asRates []float64
	for i := range *rounds {
		refRates = append(refRates, e.bareNoop(b, n))
		asRates = append(asRates, e.bareNoopAs(b, n))
		e.flush(b)
		e.enqueuePhotos(b, sim, "u-photo-"+strconv.Itoa(i), n)
		rate, ms := e.drainTimed(b, n, tasks.QueueWeights(), func(h asynq.Handler) *asynq.ServeMux { return ours(tasks.TypePhotoDelete, h) }, h)
		ourRates, inHandler = append(ourRates, rate), append(inHandler, ms)
		e.flush(b)
		e.enqueuePhotos(b, sim, "u-photo-unlimited-"+strconv.Itoa(i), n)
		unlimitedRates = append(unlimitedRates, e.drain(b, n, tasks.QueueWeights(), func(h asynq.Handler) *asynq.ServeMux { return ours(tasks.TypePhotoDelete, h) }, hu))
	}
	v, r, u := median(ourRates), median(refRates), median(unlimitedRates)
	return []Row{{
		Figure: fmt.Sprintf("photo:delete end to end, zero-latency Artifi simulator (%d)", n), Value: v, Unit: "tasks/s",
		Reference: "tasks/s bare asynq no-op", RefValue: r, Ratio: v / r, Goal: "≥ 0.80", Pass: v/r >= 0.80,
		Note: fmt.Sprintf("10 workers: %.2f ms a task, %.2f ms of it in the handler (semaphore, HTTP call); bare %.2f ms a task. Diagnostics: bare no-op on the worker's 4 queues with photo's options %.0f tasks/s (%.2f of bare); without the semaphore %.0f tasks/s (%.2f)",
			10000/v, median(inHandler), 10000/r, median(asRates), median(asRates)/r, u, u/r),
	}}
}

// benchPickup enqueues one task at a time on an idle worker and times it
// from enqueue to the end of its handler.
func benchPickup(b *testing.B, e *env) []Row {
	n := size(40, 4)
	e.flush(b)
	done := make(chan time.Time, 1)
	var handler sync.Mutex // the handler's own time, for the reference
	var inHandler []float64
	mux := ours("bench:noop", noop)
	h := asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		t0 := time.Now()
		err := mux.ProcessTask(ctx, t)
		handler.Lock()
		inHandler = append(inHandler, float64(time.Since(t0).Microseconds())/1000)
		handler.Unlock()
		done <- time.Now()
		return err
	})
	srv := e.server(tasks.QueueWeights())
	if err := srv.Start(h); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	c := asynq.NewClientFromRedisClient(e.rdb)
	var lat []float64
	for i := range n {
		// Out of step with the worker's polling.
		time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
		t0 := time.Now()
		if _, err := c.Enqueue(asynq.NewTask("bench:noop", nil), asynq.TaskID("pickup-"+strconv.Itoa(i)), asynq.Queue(tasks.QueueMerge)); err != nil {
			b.Fatal(err)
		}
		select {
		case t1 := <-done:
			lat = append(lat, float64(t1.Sub(t0).Microseconds())/1000)
		case <-time.After(30 * time.Second):
			b.Fatal("a task on an idle worker not done after 30 s")
		}
	}
	p50, p99 := percentile(lat, 0.5), percentile(lat, 0.99)
	note := fmt.Sprintf("%d tasks one at a time; task check interval %v", n, cmpOr(*checkIv, time.Second))
	load := e.idleLoad(b)
	srv.Shutdown()
	e.flush(b)
	asynqDefault := asynq.NewServer(e.opt, asynq.Config{Concurrency: 10, Queues: tasks.QueueWeights(), Logger: quiet{}})
	if err := asynqDefault.Start(bare("bench:noop", noop)); err != nil {
		b.Fatal(err)
	}
	refLoad := e.idleLoad(b)
	asynqDefault.Shutdown()
	return []Row{
		{Figure: fmt.Sprintf("Redis load of one idle worker, 4 queues, check every %v", cmpOr(*checkIv, time.Second)), Value: load, Unit: "commands/s",
			Reference: "commands/s asynq's default (1 s)", RefValue: refLoad, Ratio: load / refLoad, Goal: "documented", Pass: true},
		{Figure: "idle worker, enqueue to done, p50", Value: p50, Unit: "ms", Reference: "ms in the handler and our middleware, p50",
			RefValue: percentile(inHandler, 0.5), Goal: "≤ 50 ms", Pass: p50 <= 50, Note: note},
		{Figure: "idle worker, enqueue to done, p99", Value: p99, Unit: "ms", Reference: "—", Goal: "≤ 150 ms", Pass: p99 <= 150},
	}
}

// idleLoad is the commands/s Redis serves over 3 s, with nothing enqueued.
func (e *env) idleLoad(b *testing.B) float64 {
	b.Helper()
	count := func() float64 {
		info, err := e.rdb.Info(context.Background(), "stats").Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "total_commands_processed:"); ok {
				n, _ := strconv.ParseFloat(v, 64)
				return n
			}
		}
		b.Fatal("INFO stats without total_commands_processed")
		return 0
	}
	time.Sleep(time.Second) // past the server's start
	c0, t0 := count(), time.Now()
	time.Sleep(3 * time.Second)
	return (count() - c0 - 1) / time.Since(t0).Seconds()
}

type quiet struct{}

func (quiet) Debug(...any) {}
func (quiet) Info(...any)  {}
func (quiet) Warn(...any)  {}
func (quiet) Error(...any) {}
func (quiet) Fatal(...any) {}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// enqueueRate enqueues n tasks from g goroutines with enq and returns
// tasks/s.
func enqueueRate(b *testing.B, n, g int, enq func(i int) error) float64 {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, g)
	t0 := time.Now()
	for w := range g {
		wg.Go(func() {
			for i := w; i < n; i += g {
				if err := enq(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(t0)
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return float64(n) / el.Seconds()
}

func benchEnqueue(b *testing.B, e *env) []Row {
	n := size(20000, 10)
	ac := asynq.NewClient(e.opt)
	defer ac.Close()
	tc := tasks.NewClient(e.opt)
	defer tc.Close()
	payload := func(r, i int) tasks.PhotoDeletePayload {
		return tasks.PhotoDeletePayload{System: tasks.SystemArtifiV3, UserID: "u-enq", PhotoID: fmt.Sprintf("%d-%d", r, i)}
	}
	var rows []Row
	for _, g := range []int{1, 16} {
		var ourRates, refRates []float64
		for r := range *rounds {
			e.flush(b)
			refRates = append(refRates, enqueueRate(b, n, g, func(i int) error {
				// The same task and options tasks.Client enqueues.
				t, err := tasks.NewPhotoDeleteTask(payload(r, i))
				if err != nil {
					return err
				}
				_, err = ac.Enqueue(t)
				return err
			}))
			e.flush(b)
			ourRates = append(ourRates, enqueueRate(b, n, g, func(i int) error {
				_, err := tc.EnqueuePhotoDelete(context.Background(), payload(r, i))
				return err
			}))
		}
		v, ref := median(ourRates), median(refRates)
		rows = append(rows, Row{
			Figure: fmt.Sprintf("enqueue, tasks.Client, %d goroutine(s)", g), Value: v, Unit: "tasks/s",
			Reference: "tasks/s asynq.Client, same tasks", RefValue: ref, Ratio: v / ref, Goal: "≥ 0.90 (keep)", Pass: v/ref >= 0.9,
		})
	}
	return rows
}

// nopQueue carries no slices: benchErasure runs them itself.
// noCopies: the bench measures the upstream's throughput; our own copies
// of the ids are none here.
type noCopies struct{}

func (noCopies) Forget(context.Context, []string) (int, error)    { return 0, nil }
func (noCopies) Find(context.Context, []string) ([]string, error) { return nil, nil }

type nopQueue struct{}

func (nopQueue) Check(erasure.Request) error                                        { return nil }
func (nopQueue) Enqueue(context.Context, erasure.Request, int, time.Duration) error { return nil }
func (nopQueue) RunNow(context.Context, erasure.Request, int) error                 { return nil }
func (nopQueue) Cancel(context.Context, erasure.Request, int) error                 { return nil }
func (nopQueue) TaskID(r erasure.Request, n int) string                             { return r.ID + ":" + strconv.Itoa(n) }

// benchErasure erases a user of n Artifi photos (5 ms a request, the
// default limit of 8 calls at once) and n stored objects, running its slices
// back to back as the worker would with no queue in between.
func benchErasure(b *testing.B, e *env) []Row {
	n := size(2000, 10)
	const latency = 5 * time.Millisecond
	var times, refs, unlimited, calls []float64
	var requests int64
	for r := range 2 * *rounds {
		e.flush(b)
		var limiter upstream.Limiter = semaphore.New(e.rdb, "artifi", erasure.LimitsDefault[erasure.SystemArtifi])
		if r%2 == 1 {
			limiter = nil // diagnostic: the erasure without the cross-process semaphore
		}
		sim := artifisim.New(artifisim.Options{WebsiteID: 7, ClientKey: "bench-key", Faults: faults.Config{Latency: latency}})
		url, err := sim.Start()
		if err != nil {
			b.Fatal(err)
		}
		client, err := artifi.New(artifi.Config{BaseURL: url, WebsiteID: 7, ClientKey: "bench-key", Limiter: limiter})
		if err != nil {
			b.Fatal(err)
		}
		user := "u-erase-" + strconv.Itoa(r)
		sim.AddUser(user)
		sim.AddPhotos(user, n)
		store, dir := testutil.FileStore(b)
		photos := filepath.Join(dir, "users", user, "photos")
		if err := os.MkdirAll(photos, 0o755); err != nil {
			b.Fatal(err)
		}
		for i := range n {
			if err := os.WriteFile(filepath.Join(photos, fmt.Sprintf("%06d.jpg", i)), []byte("jpeg"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		ids := identity.New(e.rdb)
		ex := &erasure.Executor{
			Store: erasure.NewStore(e.rdb), Locks: userlock.New(e.rdb, 0), Queue: nopQueue{},
			Artifi: client, Objects: store, Aliases: ids.Aliases, Tombstone: ids.SetTombstone,
			ReceiptKey: []byte("bench-receipt-key"), Now: time.Now, Log: zerolog.Nop(),
			Own: erasure.OwnCopies{Tasks: noCopies{}, DeadLetters: noCopies{}, Quarantine: noCopies{}},
		}
		req := erasure.Request{ID: "bench-" + strconv.Itoa(r), UserID: user, FiledBy: "bench", FiledAt: time.Now()}
		if _, err := ex.Store.Create(context.Background(), req); err != nil {
			b.Fatal(err)
		}
		before := total(sim.Requests())
		t0 := time.Now()
		for slice := 0; ; slice++ {
			out, err := ex.Run(context.Background(), req, slice, time.Now().Add(time.Minute))
			if err != nil {
				b.Fatalf("erasure slice %d: %v", slice, err)
			}
			if out == erasure.Finished {
				break
			}
			if out != erasure.Paused || slice > 1000 {
				b.Fatalf("erasure slice %d: %s", slice, out)
			}
		}
		el := time.Since(t0)
		b.Cleanup(sim.Close)
		if left := sim.Photos(user); len(left) != 0 {
			b.Fatalf("%d photos left after the erasure", len(left))
		}
		requests = total(sim.Requests()) - before
		if limiter == nil {
			unlimited = append(unlimited, el.Seconds())
			// And the same number of calls from 8 goroutines doing nothing
			// else: what the simulator and this machine allow.
			sim.AddUser(user + "-bare")
			photos := sim.AddPhotos(user+"-bare", int(requests))
			t0 := time.Now()
			var wg sync.WaitGroup
			for w := range erasure.LimitsDefault[erasure.SystemArtifi] {
				wg.Go(func() {
					for i := w; i < len(photos); i += erasure.LimitsDefault[erasure.SystemArtifi] {
						if err := client.DeleteUserPhotoV4(context.Background(), user+"-bare", photos[i]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			calls = append(calls, time.Since(t0).Seconds())
			continue
		}
		times = append(times, el.Seconds())
		refs = append(refs, float64(requests)*latency.Seconds()/float64(erasure.LimitsDefault[erasure.SystemArtifi]))
	}
	v, ref := median(times), median(refs)
	return []Row{{
		Figure: fmt.Sprintf("erasure of %d photos + %d objects, 5 ms upstream latency", n, n), Value: v, Unit: "s",
		Reference: "s = requests × latency ÷ limit", RefValue: ref, Ratio: v / ref, Goal: "≤ 1.15", Pass: v/ref <= 1.15,
		Note: fmt.Sprintf("%d Artifi requests, limit %d, objects in a file store (no latency). Diagnostics: without the cross-process semaphore %.3f s (%.2f); the same calls alone from 8 goroutines %.3f s (%.2f)",
			requests, erasure.LimitsDefault[erasure.SystemArtifi], median(unlimited), median(unlimited)/ref, median(calls), median(calls)/ref),
	}}
}

func total(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// Sweep: a file store seeded like internal/sweep's benchmark, 100 objects
// per user.
const (
	perUser      = 100
	photosEach   = 60
	missingPhoto = "7"
)

type benchPhotos struct{}

func (benchPhotos) AllUserPhotoIDs(ctx context.Context, userID string) ([]string, error) {
	ids := make([]string, 0, photosEach)
	for p := range photosEach {
		if s := strconv.Itoa(p); s != missingPhoto {
			ids = append(ids, s)
		}
	}
	return ids, nil
}

func seedFiles(b *testing.B, dir string, users int) {
	b.Helper()
	for u := range users {
		base := filepath.Join(dir, "users", fmt.Sprintf("u-%07d", u))
		for _, sub := range []string{"photos", "designs"} {
			if err := os.MkdirAll(filepath.Join(base, sub), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		for i := range perUser {
			name := filepath.Join(base, "designs", strconv.Itoa(i)+".json")
			if i < photosEach {
				name = filepath.Join(base, "photos", strconv.Itoa(i)+".jpg")
			}
			if err := os.WriteFile(name, nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchSweep(b *testing.B, e *env) []Row {
	n := size(20000, 10)
	e.flush(b)
	store, dir := testutil.FileStore(b)
	seedFiles(b, dir, n/perUser)
	s, err := sweep.New(sweep.Params{
		Store: store, Redis: e.rdb, Identity: identity.New(e.rdb), Merges: &merge.Merger{Redis: e.rdb}, Photos: benchPhotos{},
		Locks: userlock.New(e.rdb, 0), Now: func() time.Time { return time.Now().Add(40 * 24 * time.Hour) }, Log: zerolog.Nop(),
	})
	if err != nil {
		b.Fatal(err)
	}
	var ourRates, refRates, statRates []float64
	for r := range *rounds {
		t0 := time.Now()
		files := 0
		err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files++
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		refRates = append(refRates, float64(files)/time.Since(t0).Seconds())
		// Diagnostic: the walk that also reads each file's size and time,
		// as a listing must.
		t0 = time.Now()
		err = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				_, err = d.Info()
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		statRates = append(statRates, float64(files)/time.Since(t0).Seconds())
		ourRates = append(ourRates, dryRunSweepRate(b, s, "bench-"+strconv.Itoa(r), n))
	}
	v, r := median(ourRates), median(refRates)
	return []Row{{
		Figure: fmt.Sprintf("dry-run sweep of a file store (%d objects)", n), Value: v, Unit: "objects/s",
		Reference: "objects/s bare filepath.WalkDir", RefValue: r, Ratio: v / r, Goal: "≥ 0.50", Pass: v/r >= 0.5,
		Note: fmt.Sprintf("diagnostic: WalkDir that also stats each file (size and time, as a listing must) %.0f objects/s; the sweep is %.2f of it",
			median(statRates), v/median(statRates)),
	}}
}

// benchMerge enqueues merges, 50 ms apart, behind a backlog of photo
// deletions and times each from enqueue to the end of its handler.
func benchMerge(b *testing.B, e *env) []Row {
	n := size(10000, 10)
	samples := size(30, 3)
	e.flush(b)
	sim, client := e.artifiSim(b, semaphore.New(e.rdb, "artifi", config.UpstreamLimitDefault))
	store, _ := testutil.FileStore(b)
	e.enqueuePhotos(b, sim, "u-backlog", n)
	m := &merge.Merger{Artifi: client, Store: store, Redis: e.rdb, Identity: identity.New(e.rdb),
		Locks: userlock.New(e.rdb, 0), Log: zerolog.Nop()}
	var enqueued sync.Map // task id → time.Time
	lat := make(chan float64, samples)
	timed := asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		err := (&handlers.UserMerge{Merger: m}).ProcessTask(ctx, t)
		id, _ := asynq.GetTaskID(ctx)
		if t0, ok := enqueued.Load(id); ok {
			lat <- float64(time.Since(t0.(time.Time)).Microseconds()) / 1000
		}
		return err
	})
	mux := ours(tasks.TypePhotoDelete, &handlers.PhotoDelete{Photos: &photo.Deleter{Artifi: client}})
	mux.Handle(tasks.TypeUserMerge, timed)
	srv := e.server(tasks.QueueWeights())
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	tc := tasks.WrapClient(asynq.NewClientFromRedisClient(e.rdb))
	for i := range samples {
		guest := fmt.Sprintf("guest-%d", i)
		sim.AddUser(guest)
		p := tasks.UserMergePayload{GuestID: guest, UserID: fmt.Sprintf("u-merge-%d", i)}
		t0 := time.Now()
		enqueued.Store(p.TaskID(), t0)
		if _, err := tc.EnqueueMerge(context.Background(), p); err != nil {
			b.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var ls []float64
	for range samples {
		select {
		case l := <-lat:
			ls = append(ls, l)
		case <-time.After(time.Minute):
			b.Fatalf("%d of %d merges done after a minute", len(ls), samples)
		}
	}
	in := asynq.NewInspectorFromRedisClient(e.rdb)
	qi, err := in.GetQueueInfo(tasks.QueuePhoto)
	left := "?"
	if err == nil {
		left = strconv.Itoa(qi.Pending)
	}
	p50, p99 := percentile(ls, 0.5), percentile(ls, 0.99)
	return []Row{{
		Figure: fmt.Sprintf("merge behind %d queued photo deletions, p99", n), Value: p99, Unit: "ms",
		Reference: fmt.Sprintf("(p50 %.1f ms)", p50), Goal: "p99 < 100 ms", Pass: p99 < 100,
		Note: fmt.Sprintf("%d merges 50 ms apart; %s photo deletions still pending after the last", samples, left),
	}}
}

// benchS3 sweeps (dry run) a bucket in the S3 container and lists the same
// bucket with bare minio-go ListObjects.
func benchS3(b *testing.B, e *env) []Row {
	n := size(20000, 10)
	if !*withS3 {
		return []Row{{Figure: fmt.Sprintf("dry-run sweep of S3 (%d objects)", n), Reference: "bare ListObjects", Skipped: true,
			Note: "not in this run (-bench.s3=false)"}}
	}
	e.flush(b)
	s3 := harness.StartS3(b)
	store, err := storage.Open(b.Context(), s3.URL(), storage.Credentials{AccessKey: s3.AccessKey, SecretKey: s3.SecretKey})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 0, n)
	for u := range n / perUser {
		for i := range perUser {
			if i < photosEach {
				keys = append(keys, fmt.Sprintf("users/u-%07d/photos/%d.jpg", u, i))
			} else {
				keys = append(keys, fmt.Sprintf("users/u-%07d/designs/%d.json", u, i))
			}
		}
	}
	t0 := time.Now()
	storagetest.Seed(b, store, keys, 8)
	b.Logf("s3: seeded %d objects in %v", n, time.Since(t0).Round(time.Second))
	s, err := sweep.New(sweep.Params{
		Store: store, Redis: e.rdb, Identity: identity.New(e.rdb), Merges: &merge.Merger{Redis: e.rdb}, Photos: benchPhotos{},
		Locks: userlock.New(e.rdb, 0), Now: func() time.Time { return time.Now().Add(40 * 24 * time.Hour) }, Log: zerolog.Nop(),
	})
	if err != nil {
		b.Fatal(err)
	}
	var ourRates, refRates []float64
	for r := range *rounds {
		t0 := time.Now()
		listed := 0
		for o := range s3.Client().ListObjects(b.Context(), s3.Bucket, minio.ListObjectsOptions{Prefix: "users/", Recursive: true}) {
			if o.Err != nil {
				b.Fatal(o.Err)
			}
			listed++
		}
		if listed != n {
			b.Fatalf("ListObjects: %d objects, want %d", listed, n)
		}
		refRates = append(refRates, float64(listed)/time.Since(t0).Seconds())
		ourRates = append(ourRates, dryRunSweepRate(b, s, "bench-s3-"+strconv.Itoa(r), n))
	}
	v, r := median(ourRates), median(refRates)
	return []Row{{
		Figure: fmt.Sprintf("dry-run sweep of S3 (%d objects, S3 container)", n), Value: v, Unit: "objects/s",
		Reference: "objects/s bare minio-go ListObjects", RefValue: r, Ratio: v / r, Goal: "≥ 0.50", Pass: v/r >= 0.5,
	}}
}

// dryRunSweepRate runs one dry-run sweep of a store seeded with n objects
// and gives the objects it scanned per second.
func dryRunSweepRate(b *testing.B, s *sweep.Sweeper, id string, n int) float64 {
	t0 := time.Now()
	rep, err := s.Sweep(context.Background(), id, true)
	if err != nil {
		b.Fatal(err)
	}
	if rep.Scanned != int64(n) {
		b.Fatalf("swept %d objects, want %d", rep.Scanned, n)
	}
	return float64(rep.Scanned) / time.Since(t0).Seconds()
}
