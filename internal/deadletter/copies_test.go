package deadletter

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

func TestCopiesForgetTheCopiesNamingASubject(t *testing.T) {
	ctx := t.Context()
	store, _ := testutil.FileStore(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	put := func(queue, id, typ, payload string) string {
		key := skeys.DeadLetter(queue, id, at)
		b, err := json.Marshal(NewRecord(&asynq.TaskInfo{ID: id, Type: typ, Queue: queue, Payload: []byte(payload), LastFailedAt: at}, at))
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
		return key
	}
	photo := put("photo", "p-1", "photo:delete", `{"system":"artifi","user_id":"u-1","photo_id":"9"}`)
	merge := put("merge", "m-1", "user:merge", `{"guest_id":"g-1","user_id":"u-9"}`)
	neighbour := put("photo", "p-2", "photo:delete", `{"system":"artifi","user_id":"u-10","photo_id":"9"}`)
	erase := put("erase", "e-1", "user:erase", `{"request_id":"r-1","user_id":"u-1"}`)
	raw := put("other", "o-1", "x:y", `not json u-1`)

	c := Copies{Store: store}
	ids := []string{"u-1", "g-1"}
	found, err := c.Find(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{merge, photo}, found); diff != "" {
		t.Errorf("found (-want +got):\n%s", diff)
	}
	if n, err := c.Forget(ctx, ids); err != nil || n != 2 {
		t.Errorf("Forget = %d, %v; want 2", n, err)
	}
	if n, err := c.Forget(ctx, ids); err != nil || n != 0 {
		t.Errorf("Forget again = %d, %v; want 0", n, err)
	}
	// The erasure request's own copy, a neighbour's, and one that names
	// nobody we could tell stay.
	if diff := cmp.Diff([]string{erase, raw, neighbour}, testutil.Keys(t, store, skeys.DeadLetters())); diff != "" {
		t.Errorf("left (-want +got):\n%s", diff)
	}
}
