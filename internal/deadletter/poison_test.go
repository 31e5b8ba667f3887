package deadletter

import (
	"context"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// stamp is the failure time at the end of a dead letter's copy.
var stamp = regexp.MustCompile(`--?[0-9]+\.json$`)

// refusing is a store that refuses some keys, as a store refuses a key it
// finds invalid or an S3 bucket denies one.
type refusing struct {
	storage.Store
	refuse string
}

func (r refusing) Put(ctx context.Context, key string, body io.Reader, size int64) error {
	if strings.Contains(key, r.refuse) {
		return errors.New("refused")
	}
	return r.Store.Put(ctx, key, body, size)
}

// TestOnePoisonDeadLetterDoesNotStopTheArchiver: a dead letter whose task id
// climbs out of its folder (producers choose task ids) is copied under an
// escaped name, and one the store refuses is logged, counted, marked and
// skipped; every other one is copied, and the queue is still trimmed (issue
// 13, finding 3).
func TestOnePoisonDeadLetterDoesNotStopTheArchiver(t *testing.T) {
	ctx := context.Background()
	opt := testutil.AsynqRedis(t)
	rdb := testutil.Client(t, opt.Addr)
	files, _ := testutil.FileStore(t)
	client := asynq.NewClient(opt)
	defer client.Close()
	inspector := testutil.Inspector(t, opt)

	// Oldest first: the refused one and the poison one are the oldest, where
	// trimming starts.
	for _, id := range []string{"refused-1", "x/../../poison", "ok-1", "ok-2", "ok-3", "ok-4"} {
		if _, err := client.Enqueue(asynq.NewTask("photo:delete", []byte(`{}`)), asynq.Queue("photo"), asynq.TaskID(id)); err != nil {
			t.Fatal(err)
		}
		if err := inspector.ArchiveTask("photo", id); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // asynq orders dead letters by second
	}

	var logs strings.Builder
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "y"}, []string{"queue"})
	a := &Archiver{Inspector: inspector, Store: refusing{files, "refused-1"}, Redis: rdb, Keep: 3, Now: time.Now,
		Log: zerolog.New(&logs), DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x"}, []string{"type", "queue"}),
		CopyFailures: failures}
	rep, err := a.Run(ctx)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if diff := cmp.Diff(Report{Copied: 5, Failed: 1, Trimmed: 3}, rep); diff != "" {
		t.Errorf("run (-want +got):\n%s", diff)
	}
	var keys []string
	for obj, err := range files.List(ctx, "dead-letters/", "") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, stamp.ReplaceAllString(obj.Key, ""))
	}
	want := []string{"dead-letters/photo/ok-1", "dead-letters/photo/ok-2", "dead-letters/photo/ok-3", "dead-letters/photo/ok-4", "dead-letters/photo/x%2F..%2F..%2Fpoison"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("copies (-want +got):\n%s", diff)
	}
	left, _ := inspector.ListArchivedTasks("photo")
	var ids []string
	for _, l := range left {
		ids = append(ids, l.ID)
	}
	// The three oldest copied ones went, down to Keep; the refused one stays
	// for a person.
	// (asynq lists dead letters oldest first.)
	if diff := cmp.Diff([]string{"refused-1", "ok-3", "ok-4"}, ids); diff != "" {
		t.Errorf("dead letters left in the queue (-want +got):\n%s", diff)
	}
	if n := promtest.ToFloat64(failures.WithLabelValues("photo")); n != 1 {
		t.Errorf("copy failures counted %v, want 1", n)
	}
	marked, err := rdb.HKeys(ctx, rkeys.DeadLettersUncopied()).Result()
	if err != nil || len(marked) != 1 || !strings.HasPrefix(marked[0], "photo/refused-1@") {
		t.Errorf("marker: %q %v, want the refused dead letter named", marked, err)
	}
	if !strings.Contains(logs.String(), `"task_id":"refused-1"`) || !strings.Contains(logs.String(), "cannot copy") {
		t.Errorf("the refused dead letter is not logged:\n%s", logs.String())
	}
	// The next run does not log or count the refused one again.
	logs.Reset()
	if rep, err := a.Run(ctx); err != nil || rep.Copied != 0 {
		t.Errorf("second run: %+v %v", rep, err)
	}
	if n := promtest.ToFloat64(failures.WithLabelValues("photo")); n != 1 {
		t.Errorf("copy failures counted %v after a second run, want 1", n)
	}
}
