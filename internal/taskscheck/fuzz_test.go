package taskscheck_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// The fuzz targets that hold the contract's grammar against the worker's
// keys, paths and storage. Seeds are in testdata/fuzz/<target>.

// FuzzCheckID: an id that passes the grammar is embedded unchanged in our
// keys and paths, and none of them can be reshaped by it.
func FuzzCheckID(f *testing.F) {
	f.Add("gdpr-1")
	f.Fuzz(func(t *testing.T, id string) {
		if tasks.CheckID("id", id) != nil {
			return
		}
		switch {
		case len(id) == 0 || len(id) > tasks.MaxIDLen, !utf8.ValidString(id),
			strings.ContainsAny(id, ":/\\% \t\r\n\x00"), id == "." || id == "..", id[0] == '.' || id[0] == '-':
			t.Fatalf("CheckID accepted %q", id)
		}
		if got := rkeys.ErasureRequest(id); got != "lifecycle:erasure:"+id {
			t.Fatalf("key of valid id %q is %q: stored keys would change name", id, got)
		}
		if got := skeys.UserPrefix(id); got != "users/"+id+"/" {
			t.Fatalf("folder of valid id %q is %q", id, got)
		}
		if err := storage.ValidateKey(skeys.Receipt(id)); err != nil {
			t.Fatalf("receipt path of valid id %q: %v", id, err)
		}
	})
}

// FuzzStorageKey: a key the contract accepts for a user is one storage
// accepts, and lies in that user's folder.
func FuzzStorageKey(f *testing.F) {
	f.Add("u-1", "users/u-1/a.jpg")
	f.Fuzz(func(t *testing.T, userID, key string) {
		p := tasks.PhotoDeletePayload{System: tasks.SystemStorage, UserID: userID, Key: key}
		if p.Validate() != nil {
			return
		}
		if err := storage.ValidateKey(key); err != nil {
			t.Fatalf("user %q key %q: accepted, but storage refuses it: %v", userID, key, err)
		}
		if owner := skeys.OwnerOf(key); owner != userID {
			t.Fatalf("user %q key %q: accepted, but it lies in %q's folder", userID, key, owner)
		}
		b, _ := json.Marshal(p)
		if _, err := tasks.Decode[tasks.PhotoDeletePayload](asynq.NewTask(tasks.TypePhotoDelete, b)); err != nil {
			t.Fatalf("accepted payload does not decode: %v", err)
		}
	})
}
