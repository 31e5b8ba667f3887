package handlers

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/metrics"
	"github.com/lifecycle-worker/lifecycle/internal/sim/artifisim"
	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/artifi"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// mergeBundle is a worker with real parts: asynq on miniredis, the Artifi
// simulator, a file store.
type mergeBundle struct {
	sim       *artifisim.Server
	store     storage.Store
	rdb       redis.UniversalClient
	ids       *identity.Store
	locks     *userlock.Locker
	client    *tasks.Client
	raw       *asynq.Client
	inspector *asynq.Inspector
	logs      *syncBuffer
}

func setupMerge(t *testing.T) *mergeBundle {
	t.Helper()
	mr := miniredis.RunT(t)
	opt := asynq.RedisClientOpt{Addr: mr.Addr()}
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })

	sim := artifisim.New(artifisim.Options{WebsiteID: 422, ClientKey: "k"})
	url, err := sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	ac, err := artifi.New(artifi.Config{BaseURL: url, WebsiteID: 422, ClientKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	store, err := storage.Open(context.Background(), "file://"+t.TempDir(), storage.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	b := &mergeBundle{sim: sim, store: store, rdb: rdb, ids: identity.New(rdb), locks: userlock.New(rdb, time.Minute), logs: &syncBuffer{}}
	mux := asynq.NewServeMux()
	mux.Use(Outcomes(zerolog.New(b.logs), metrics.New(nil).Tasks, time.Now, nil))
	Register(mux, Deps{Artifi: ac, Store: store, Redis: rdb, Identity: b.ids, Locks: b.locks, Log: zerolog.New(b.logs)})
	srv := NewServer(ServerParams{Redis: opt, Concurrency: 4, Queues: tasks.QueueWeights(), ShutdownTimeout: time.Second, Log: zerolog.Nop()})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	b.client = tasks.NewClient(opt)
	b.raw = asynq.NewClient(opt)
	b.inspector = asynq.NewInspector(opt)
	t.Cleanup(func() { b.client.Close(); b.raw.Close(); b.inspector.Close() })
	return b
}

// seedGuest gives a guest photos and designs in Artifi and n stored objects.
func (b *mergeBundle) seedGuest(t *testing.T, guest string, n int) []string {
	t.Helper()
	b.sim.AddUser(guest)
	b.sim.AddPhotos(guest, 3)
	b.sim.AddDesigns(guest, 2)
	var rel []string
	for i := range n {
		r := fmt.Sprintf("photos/%04d.jpg", i)
		if err := b.store.Put(context.Background(), "users/"+guest+"/"+r, strings.NewReader("jpeg "+r), -1); err != nil {
			t.Fatal(err)
		}
		rel = append(rel, r)
	}
	return rel
}

func (b *mergeBundle) keys(t *testing.T, prefix string) []string {
	t.Helper()
	var out []string
	for o, err := range b.store.List(context.Background(), prefix, "") {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.TrimPrefix(o.Key, prefix))
	}
	return out
}

func (b *mergeBundle) waitState(t *testing.T, queue, id string, want asynq.TaskState) *asynq.TaskInfo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := b.inspector.GetTaskInfo(queue, id)
		if err == nil && info.State == want {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s never reached %s (last %+v, %v); logs:\n%s", id, want, info, err, b.logs.b.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMergeMovesEverythingOnce(t *testing.T) {
	b := setupMerge(t)
	ctx := context.Background()
	rel := b.seedGuest(t, "g-1", 120) // crosses several progress checkpoints
	b.sim.AddUser("u-1")
	res, err := b.client.EnqueueMerge(ctx, tasks.UserMergePayload{GuestID: "g-1", UserID: "u-1"})
	if err != nil {
		t.Fatal(err)
	}
	b.waitState(t, res.Queue, res.TaskID, asynq.TaskStateCompleted)

	if diff := cmp.Diff(rel, b.keys(t, "users/u-1/")); diff != "" {
		t.Errorf("objects under the user (-want +got):\n%s", diff)
	}
	if left := b.keys(t, "users/g-1/"); len(left) != 0 {
		t.Errorf("left under the guest: %v", left)
	}
	if b.sim.UserExists("g-1") || len(b.sim.Photos("u-1")) != 3 || b.sim.Designs("u-1") != 2 {
		t.Errorf("artifi: guest exists %v, user photos %d designs %d; want false, 3, 2",
			b.sim.UserExists("g-1"), len(b.sim.Photos("u-1")), b.sim.Designs("u-1"))
	}
	if into, ok, _ := b.ids.MergedInto(ctx, "g-1"); !ok || into != "u-1" {
		t.Errorf("alias not recorded: %q %v", into, ok)
	}

	// The same merge run again (another producer, after retention): done,
	// recorded as already gone, Artifi not called again.
	again, err := b.raw.Enqueue(asynq.NewTask(tasks.TypeUserMerge, []byte(`{"guest_id":"g-1","user_id":"u-1"}`)), asynq.Queue(tasks.QueueMerge), asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	b.waitState(t, tasks.QueueMerge, again.ID, asynq.TaskStateCompleted)
	if n := b.sim.Merges(); n != 1 {
		t.Errorf("artifi merges = %d, want 1", n)
	}
	if !strings.Contains(b.logs.b.String(), `"outcome":"already_gone"`) {
		t.Error("second merge not recorded as already gone")
	}
}

// TestMergeLostResponse: Artifi applies the merge but the reply is lost.
// The retry meets 232, verifies it, and completes: one merge, no failure.
func TestMergeLostResponse(t *testing.T) {
	b := setupMerge(t)
	ctx := context.Background()
	rel := b.seedGuest(t, "g-2", 5)
	b.sim.Faults().Set(faults.Config{DropReplyRate: 1})
	res, err := b.client.EnqueueMerge(ctx, tasks.UserMergePayload{GuestID: "g-2", UserID: "u-2"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.sim.Merges() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	b.sim.Faults().Set(faults.Config{})
	info := b.waitState(t, res.Queue, res.TaskID, asynq.TaskStateCompleted)

	if n := b.sim.Merges(); n != 1 {
		t.Errorf("artifi merges = %d, want 1", n)
	}
	if info.Retried < 1 {
		t.Errorf("retried %d times: the lost reply did not cause a retry", info.Retried)
	}
	if diff := cmp.Diff(rel, b.keys(t, "users/u-2/")); diff != "" {
		t.Errorf("objects under the user (-want +got):\n%s", diff)
	}
	if !strings.Contains(b.logs.b.String(), "232 verified") {
		t.Errorf("the verified 232 is not in the log:\n%s", b.logs.b.String())
	}
}

func TestMergeRefusals(t *testing.T) {
	b := setupMerge(t)
	ctx := context.Background()
	if err := b.ids.SetTombstone(ctx, "req-9", time.Now(), "u-erased"); err != nil {
		t.Fatal(err)
	}
	if err := b.ids.RecordMerge(ctx, "g-taken", "u-other"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, guest, user, reason string
	}{
		{"into an erased user", "g-3", "u-erased", "was erased by request req-9"},
		{"a guest merged elsewhere", "g-taken", "u-3", "already merged into another user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := b.client.EnqueueMerge(ctx, tasks.UserMergePayload{GuestID: tt.guest, UserID: tt.user})
			if err != nil {
				t.Fatal(err)
			}
			info := b.waitState(t, res.Queue, res.TaskID, asynq.TaskStateArchived)
			if !strings.Contains(info.LastErr, tt.reason) || info.Retried != 0 {
				t.Errorf("dead letter: retried %d, reason %q; want no retries and %q", info.Retried, info.LastErr, tt.reason)
			}
		})
	}
	if b.sim.Merges() != 0 {
		t.Error("a refused merge reached Artifi")
	}
}

// TestMergeWaitsForErasure: while an erasure holds the user, the merge does
// not touch anything and retries once the lock is free.
func TestMergeWaitsForErasure(t *testing.T) {
	b := setupMerge(t)
	ctx := context.Background()
	b.seedGuest(t, "g-4", 2)
	erasure, err := b.locks.Acquire(ctx, "user:erase:req-1", "u-4")
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.client.EnqueueMerge(ctx, tasks.UserMergePayload{GuestID: "g-4", UserID: "u-4"})
	if err != nil {
		t.Fatal(err)
	}
	b.waitState(t, res.Queue, res.TaskID, asynq.TaskStateRetry)
	if b.sim.Merges() != 0 || len(b.keys(t, "users/u-4/")) != 0 {
		t.Fatal("the merge ran while the erasure held the user")
	}
	erasure.Release(ctx)
	if err := b.inspector.RunTask(res.Queue, res.TaskID); err != nil {
		t.Fatal(err)
	}
	b.waitState(t, res.Queue, res.TaskID, asynq.TaskStateCompleted)
	if got := b.keys(t, "users/u-4/"); !slices.Equal(got, []string{"photos/0000.jpg", "photos/0001.jpg"}) {
		t.Errorf("after the erasure released the user: %v", got)
	}
}

var _ io.Writer = (*syncBuffer)(nil)
