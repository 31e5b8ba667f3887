package handlers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/deadletter"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/merge"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// services records what the handlers ask of the domain.
type services struct{ calls []string }

func (s *services) add(format string, args ...any) error {
	s.calls = append(s.calls, fmt.Sprintf(format, args...))
	return nil
}
func (s *services) ArtifiV3(_ context.Context, u, p string) error {
	return s.add("artifi v3 %s %s", u, p)
}
func (s *services) ArtifiV4(_ context.Context, u, p string) error {
	return s.add("artifi v4 %s %s", u, p)
}
func (s *services) BiginRecordPhoto(_ context.Context, m, r string) error {
	return s.add("bigin %s %s", m, r)
}
func (s *services) BPMAvatar(_ context.Context, u string) error    { return s.add("bpm %s", u) }
func (s *services) StoredObject(_ context.Context, k string) error { return s.add("object %s", k) }
func (s *services) Merge(_ context.Context, g, u, _ string) (merge.Result, error) {
	return merge.Result{}, s.add("merge %s into %s", g, u)
}
func (s *services) RunSlice(_ context.Context, r erasure.Request, n int) error {
	return s.add("erase %s of %s, bigin %v, slice %d, filed %s", r.ID, r.UserID, r.Bigin, n, r.FiledAt.Format(time.RFC3339))
}

// TestHandlersAdaptTasksToTheDomain: each handler decodes its payload and
// asks the domain for exactly that; a payload that does not decode is a dead
// letter before the domain is asked anything.
func TestHandlersAdaptTasksToTheDomain(t *testing.T) {
	tests := []struct {
		name, typ, payload string
		wantCall           string
		wantClass          errclass.Class
	}{
		{"artifi v3", tasks.TypePhotoDelete, `{"system":"artifi-v3","user_id":"u-1","photo_id":"7","request_id":"r"}`, "artifi v3 u-1 7", ""},
		{"artifi v4", tasks.TypePhotoDelete, `{"system":"artifi-v4","user_id":"u-1","photo_id":"8","request_id":"r"}`, "artifi v4 u-1 8", ""},
		{"bigin", tasks.TypePhotoDelete, `{"system":"bigin","user_id":"u-1","module":"Contacts","record_id":"2034020000000489033","request_id":"r"}`, "bigin Contacts 2034020000000489033", ""},
		{"bpm", tasks.TypePhotoDelete, `{"system":"ibmbpm","user_id":"u-1","user":"jdoe","request_id":"r"}`, "bpm jdoe", ""},
		{"stored object", tasks.TypePhotoDelete, `{"system":"storage","user_id":"u-1","key":"users/u-1/a.jpg","request_id":"r"}`, "object users/u-1/a.jpg", ""},
		{"unknown system", tasks.TypePhotoDelete, `{"system":"fax","user_id":"u-1","request_id":"r"}`, "", errclass.Permanent},
		{"merge", tasks.TypeUserMerge, `{"guest_id":"g-1","user_id":"u-1"}`, "merge g-1 into u-1", ""},
		{"merge without a user", tasks.TypeUserMerge, `{"guest_id":"g-1"}`, "", errclass.Permanent},
		{"erase", tasks.TypeUserErase, `{"request_id":"req-1","user_id":"u-1","filed_by":"dpo-7","filed_at":"2026-03-01T13:00:00+01:00","bigin":[{"module":"Contacts","record_id":"11"}],"slice":2}`,
			"erase req-1 of u-1, bigin [{Contacts 11}], slice 2, filed 2026-03-01T12:00:00Z", ""},
		{"erase without a request id", tasks.TypeUserErase, `{"user_id":"u-1","filed_by":"dpo-7","filed_at":"2026-03-01T12:00:00Z"}`, "", errclass.Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &services{}
			h := map[string]asynq.Handler{
				tasks.TypePhotoDelete: &PhotoDelete{Photos: s},
				tasks.TypeUserMerge:   &UserMerge{Merger: s},
				tasks.TypeUserErase:   &UserErase{Eraser: s},
			}[tt.typ]
			err := h.ProcessTask(t.Context(), asynq.NewTask(tt.typ, []byte(tt.payload)))
			if got := classOf(err); got != tt.wantClass {
				t.Fatalf("error %v classed %q, want %q", err, got, tt.wantClass)
			}
			var want []string
			if tt.wantCall != "" {
				want = []string{tt.wantCall}
			}
			if diff := cmp.Diff(want, s.calls); diff != "" {
				t.Errorf("domain calls (-want +got):\n%s", diff)
			}
		})
	}
}

// A worker missing a service does not start, and says which, rather than
// dead-lettering every task of that type.
func TestRegisterRefusesMissingServices(t *testing.T) {
	s := &services{}
	err := Register(asynq.NewServeMux(), Services{Photos: s, Merges: s, Erasures: s})
	for _, name := range []string{"Services.Sweeps", "Services.DeadLetters"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Register = %v, want it to name %s", err, name)
		}
	}
	if err := Register(asynq.NewServeMux(), Services{Photos: s, Merges: s, Erasures: s, Sweeps: &fakeSweeper{}, DeadLetters: &fakeArchiver{}}); err != nil {
		t.Errorf("Register with every service = %v", err)
	}
}

type fakeArchiver struct{}

func (fakeArchiver) Run(context.Context) (deadletter.Report, error) { return deadletter.Report{}, nil }
