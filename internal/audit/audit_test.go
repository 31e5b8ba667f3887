package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lifecycle-worker/lifecycle/internal/audit"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

func TestRecordListCopy(t *testing.T) {
	ctx := context.Background()
	_, rdb := testutil.Redis(t)
	store, _ := testutil.FileStore(t)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cli := &audit.Recorder{Redis: rdb, Now: func() time.Time { return now }} // no storage, as the CLI

	if err := audit.Record(ctx, audit.Entry{Action: audit.ErasureFile, Subject: "r-1"}); !errors.Is(err, audit.ErrNoRecorder) {
		t.Errorf("Record without a recorder: %v, want ErrNoRecorder", err)
	}
	actx := audit.NewContext(ctx, cli, "cli:alice")
	if err := audit.Record(actx, audit.Entry{Action: audit.ErasureFile, Subject: "r-1"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if err := audit.Record(actx, audit.Entry{Who: "bob", Action: audit.ErasureDeny, Subject: "r-1", Why: "dup"}); err != nil {
		t.Fatal(err)
	}
	got, err := cli.List(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []audit.Entry{
		{At: now.Add(-time.Minute), Who: "cli:alice", Action: "erasure.file", Subject: "r-1"},
		{At: now, Who: "bob", Action: "erasure.deny", Subject: "r-1", Why: "dup"},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(audit.Entry{}, "ID")); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if got, _ := cli.List(ctx, audit.Filter{Since: now}); len(got) != 1 || got[0].Action != audit.ErasureDeny {
		t.Errorf("List since the second: %+v", got)
	}

	// A worker with storage copies what the CLI recorded, once.
	worker := &audit.Recorder{Redis: rdb, Store: store}
	for i, wantN := range []int{2, 0} {
		if n, err := worker.Copy(ctx); err != nil || n != wantN {
			t.Errorf("Copy #%d = %d, %v, want %d", i+1, n, err, wantN)
		}
	}
	r, err := store.Get(ctx, skeys.AuditEntry(got[0].At, got[0].ID))
	if err != nil {
		t.Fatalf("entry not in storage: %v", err)
	}
	defer r.Close()
	var stored audit.Entry
	b, _ := io.ReadAll(r)
	if err := json.Unmarshal(b, &stored); err != nil || stored != got[0] {
		t.Errorf("stored %s, want %+v", b, got[0])
	}
}

func TestRedisRetention(t *testing.T) {
	ctx := context.Background()
	_, rdb := testutil.Redis(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := &audit.Recorder{Redis: rdb, Now: func() time.Time { return now }}
	for range 3 {
		if err := rec.Record(ctx, audit.Entry{Who: "x", Action: audit.DeadLetterRetry, Subject: "q/t"}); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(audit.RedisRetention + time.Hour)
	if err := rec.Record(ctx, audit.Entry{Who: "x", Action: audit.DeadLetterDelete, Subject: "q/t"}); err != nil {
		t.Fatal(err)
	}
	if n := rdb.ZCard(ctx, rkeys.AuditLog()).Val(); n != 1 {
		t.Errorf("entries kept in Redis past the retention: %d, want 1", n)
	}
	// Storage still gets them: they wait uncopied until a worker copies.
	if n := rdb.HLen(ctx, rkeys.AuditUncopied()).Val(); n != 4 {
		t.Errorf("uncopied entries %d, want 4", n)
	}
}
