package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/deadletter"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/merge"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// ownQueue is a queue no worker serves: what the test puts there stays in
// the state it put it in.
const ownQueue = "own-copies"

// TestEraseOwnCopies: acceptance 2 of "storage that really forgets". The
// service's own copies of a person's ids (tasks in every state asynq keeps,
// a dead letter copied to storage, a sweep's quarantine and manifest lines,
// records keyed by the ids) are erased with them: after the erasure a scan
// of every Redis key, every task payload and the whole storage tree finds
// the ids nowhere but in the tombstones, the erasure's own record and tasks,
// and the receipt, which lists the steps that removed them.
func TestEraseOwnCopies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := eraseSubject{user: "u-own", guest: "guest-own", photos: 3, guestPhotos: 1, objects: 3, guestObjects: 2,
		bigin: []tasks.BiginRecord{{Module: "Contacts", RecordID: "7001"}}, bpmUser: "own.user", requestID: "gdpr-own-1"}
	b := setupErase(t, s)
	ids := []string{s.user, s.guest}
	neighbour := s.user + "0"
	in := asynq.NewInspector(b.redis.Opt())
	t.Cleanup(func() { _ = in.Close() })

	// Tasks naming the person in each state asynq keeps a task in. A
	// server of this test's own takes them to retry, archived and
	// completed, then stops.
	photo := func(user, key string) []byte {
		p, err := json.Marshal(tasks.PhotoDeletePayload{System: tasks.SystemStorage, UserID: user, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	client := asynq.NewClient(b.redis.Opt())
	t.Cleanup(func() { _ = client.Close() })
	enqueue := func(typ string, payload []byte, opts ...asynq.Option) string {
		t.Helper()
		info, err := client.Enqueue(asynq.NewTask(typ, payload), opts...)
		if err != nil {
			t.Fatal(err)
		}
		return info.ID
	}
	retry := enqueue("own:retry", photo(s.user, "users/u-own/photos/00000.jpg"), asynq.Queue(ownQueue), asynq.MaxRetry(5))
	dead := enqueue("own:dead", photo(s.guest, "users/guest-own/designs/00000.json"), asynq.Queue(ownQueue))
	done := enqueue("own:done", []byte(`{"guest_id":"guest-own","user_id":"u-own"}`), asynq.Queue(ownQueue), asynq.Retention(time.Hour))
	srv := asynq.NewServer(b.redis.Opt(), asynq.Config{
		Queues: map[string]int{ownQueue: 1}, Concurrency: 1, LogLevel: asynq.FatalLevel,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour },
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("own:retry", func(context.Context, *asynq.Task) error { return errors.New("upstream down") })
	mux.HandleFunc("own:dead", func(context.Context, *asynq.Task) error { return fmt.Errorf("refused: %w", asynq.SkipRetry) })
	mux.HandleFunc("own:done", func(context.Context, *asynq.Task) error { return nil })
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	testutil.WaitTask(t, in, ownQueue, retry, asynq.TaskStateRetry, 20*time.Second)
	testutil.WaitTask(t, in, ownQueue, dead, asynq.TaskStateArchived, 20*time.Second)
	testutil.WaitTask(t, in, ownQueue, done, asynq.TaskStateCompleted, 20*time.Second)
	srv.Shutdown()
	pending := enqueue("own:pending", photo(s.user, "users/u-own/photos/00001.jpg"), asynq.Queue(ownQueue))
	kept := enqueue("own:pending", photo(neighbour, "users/u-own0/keep.jpg"), asynq.Queue(ownQueue))
	merge1, err := tasks.NewUserMergeTask(tasks.UserMergePayload{GuestID: s.guest, UserID: s.user}, asynq.ProcessIn(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	scheduled, err := client.Enqueue(merge1)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.rdb.Set(ctx, rkeys.TaskCompleted(ownQueue, done), "1", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}

	// The dead letter copied to storage, as the archiver does every minute.
	arch := &deadletter.Archiver{Inspector: in, Store: b.store, Redis: b.rdb, Now: time.Now, Log: zerolog.Nop(),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dead_letters"}, []string{"type", "queue"})}
	if rep, err := arch.Run(ctx); err != nil || rep.Copied != 1 {
		t.Fatalf("archiver: %+v, %v; want one copy", rep, err)
	}

	// A sweep takes the merged guest's leftovers (ten days old) to
	// quarantine, with a manifest line each.
	old := time.Now().Add(-10 * 24 * time.Hour)
	for i := range s.guestObjects {
		if err := os.Chtimes(filepath.Join(b.dir, fmt.Sprintf("users/%s/designs/%05d.json", s.guest, i)), old, old); err != nil {
			t.Fatal(err)
		}
	}
	sw, err := sweep.New(sweep.Params{Store: b.store, Redis: b.rdb, Identity: identity.New(b.rdb), Merges: &merge.Merger{Redis: b.rdb},
		MaxShare: 1, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := sw.Sweep(ctx, "s-own", false); err != nil || rep.Moved != int64(s.guestObjects) {
		t.Fatalf("sweep: moved %d, %v; want %d", rep.Moved, err, s.guestObjects)
	}

	// Records keyed by the ids besides the merge's own (aliases,
	// merged-into): a merge's progress and a quarantine record.
	if err := b.rdb.HSet(ctx, rkeys.MergeProgress(s.guest), "target", s.user).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.rdb.HSet(ctx, rkeys.GuestQuarantined(s.user), "s-own:0", 1).Err(); err != nil {
		t.Fatal(err)
	}
	if found := b.scan(t, in, ids); len(found) < 8 {
		t.Fatalf("before the erasure the scan finds only %v: it would prove nothing", found)
	}

	b.worker(t)
	b.file(t)
	b.waitFor(t, 90*time.Second, "done", func(r erasure.Record) bool { return r.State.Status == erasure.StatusDone })

	// The last slice lets go of the user's lock just after the request is
	// done: the scan may have to wait for it.
	var found []string
	testutil.Eventually(t, 10*time.Second, func() bool { found = b.scan(t, in, ids); return len(found) == 0 },
		"after the erasure the subject's ids are still in:\n  %s", testutil.Later(func() any { return strings.Join(found, "\n  ") }))
	if _, err := in.GetTaskInfo(ownQueue, kept); err != nil {
		t.Errorf("the neighbour's task: %v; want it kept", err)
	}
	for q, id := range map[string]string{ownQueue + "/retry": retry, ownQueue + "/dead": dead, ownQueue + "/done": done,
		ownQueue + "/pending": pending, tasks.QueueMerge: scheduled.ID} {
		q, _, _ = strings.Cut(q, "/")
		if _, err := in.GetTaskInfo(q, id); !errors.Is(err, asynq.ErrTaskNotFound) {
			t.Errorf("task %s/%s: %v; want it deleted", q, id, err)
		}
	}

	doc, err := os.ReadFile(filepath.Join(b.dir, skeys.Receipt(s.requestID)))
	if err != nil {
		t.Fatal(err)
	}
	var rc erasure.Receipt
	if err := json.Unmarshal(doc, &rc); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, st := range rc.Steps {
		if st.System == erasure.SystemOwn {
			got[st.Step] = fmt.Sprintf("%s %d", st.Outcome, st.Count)
		}
	}
	want := map[string]string{
		// Retry, archived, completed, pending and the scheduled merge.
		"lifecycle:tasks":        "deleted 5",
		"lifecycle:dead-letters": "deleted 1",
		// Two quarantined objects and their manifest lines.
		"lifecycle:quarantine": "deleted 4",
		// Aliases, merged-into, merge progress, quarantine record.
		"lifecycle:records": "deleted 4",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("receipt step %s: %q, want %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("receipt steps of %s: %v", erasure.SystemOwn, got)
	}
	t.Logf("receipt: %d steps, of ours %v", len(rc.Steps), got)
}

// scan names every place in Redis and storage that holds one of ids as a
// whole token, except the tombstones, the erasure's own record, its tasks
// (user:erase of this request) and its receipt.
func (b *eraseBundle) scan(t *testing.T, in *asynq.Inspector, ids []string) []string {
	t.Helper()
	ctx := context.Background()
	var alts []string
	for _, id := range ids {
		alts = append(alts, regexp.QuoteMeta(id))
	}
	// A whole id, not a prefix of another one (u-own0 is a neighbour).
	re := regexp.MustCompile(`(^|[^A-Za-z0-9_-])(` + strings.Join(alts, "|") + `)($|[^A-Za-z0-9_-])`)
	var found []string

	own := func(key string) bool {
		for _, id := range ids {
			if key == rkeys.Tombstone(id) {
				return true
			}
		}
		if key == rkeys.ErasureRequest(b.s.requestID) || strings.HasPrefix(key, rkeys.ErasureRequest(b.s.requestID)+":") {
			return true
		}
		// asynq:{queue}:t:{id} of one of this request's user:erase tasks.
		if rest, ok := strings.CutPrefix(key, "asynq:{"); ok {
			q, id, ok := strings.Cut(rest, "}:t:")
			if ok {
				info, err := in.GetTaskInfo(q, id)
				var p tasks.UserErasePayload
				return err == nil && info.Type == tasks.TypeUserErase && json.Unmarshal(info.Payload, &p) == nil && p.RequestID == b.s.requestID
			}
		}
		return false
	}
	var cursor uint64
	for {
		keys, next, err := b.rdb.Scan(ctx, cursor, "*", 500).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if own(k) {
				continue
			}
			if re.MatchString(k) || re.Match(redisValue(t, b.rdb, k)) {
				found = append(found, "redis "+k)
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}

	// Every task payload in every state, through asynq's own reading.
	queues, err := in.Queues()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queues {
		for state, list := range map[string]func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
			"pending": in.ListPendingTasks, "active": in.ListActiveTasks, "scheduled": in.ListScheduledTasks,
			"retry": in.ListRetryTasks, "archived": in.ListArchivedTasks, "completed": in.ListCompletedTasks,
		} {
			infos, err := list(q, asynq.PageSize(1000))
			if err != nil {
				t.Fatal(err)
			}
			for _, ti := range infos {
				var p tasks.UserErasePayload
				if ti.Type == tasks.TypeUserErase && json.Unmarshal(ti.Payload, &p) == nil && p.RequestID == b.s.requestID {
					continue
				}
				if re.Match(ti.Payload) || re.MatchString(ti.LastErr) {
					found = append(found, fmt.Sprintf("task %s/%s (%s) %s", q, ti.ID, state, ti.Payload))
				}
			}
		}
	}

	// The whole storage tree: names and contents.
	err = filepath.WalkDir(b.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(b.dir, path)
		if rel == "." || rel == skeys.Receipt(b.s.requestID) {
			return nil
		}
		if re.MatchString(rel) {
			found = append(found, "storage "+rel)
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if re.Match(body) {
			found = append(found, "storage "+rel+" (content)")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(found)
	return found
}

// redisValue is everything key holds, whatever its type, as bytes.
func redisValue(t *testing.T, rdb *redis.Client, key string) []byte {
	t.Helper()
	ctx := context.Background()
	typ, err := rdb.Type(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	switch typ {
	case "string":
		v, _ := rdb.Get(ctx, key).Result()
		parts = []string{v}
	case "hash":
		m, _ := rdb.HGetAll(ctx, key).Result()
		for k, v := range m {
			parts = append(parts, k, v)
		}
	case "set":
		parts, _ = rdb.SMembers(ctx, key).Result()
	case "zset":
		parts, _ = rdb.ZRange(ctx, key, 0, -1).Result()
	case "list":
		parts, _ = rdb.LRange(ctx, key, 0, -1).Result()
	case "stream":
		msgs, _ := rdb.XRange(ctx, key, "-", "+").Result()
		for _, m := range msgs {
			parts = append(parts, fmt.Sprint(m.Values))
		}
	}
	return []byte(strings.Join(parts, "\x00"))
}
