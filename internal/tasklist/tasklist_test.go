package tasklist

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
)

// fakeList serves n tasks, page k (of 10, the size All asks for) at its
// k-th call; err, when set, answers every call; calls counts the calls.
// (asynq's list options are opaque: the page is told by the call count.)
func fakeList(n int, err error, calls *int) Func {
	return func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error) {
		*calls++
		if err != nil {
			return nil, err
		}
		var out []*asynq.TaskInfo
		for i := (*calls - 1) * 10; i < min(*calls*10, n); i++ {
			out = append(out, &asynq.TaskInfo{ID: fmt.Sprint(i)})
		}
		return out, nil
	}
}

func TestAll(t *testing.T) {
	boom := errors.New("boom")
	for _, tt := range []struct {
		name      string
		n         int
		err       error
		take      int // stop after this many; 0: all
		wantIDs   int
		wantErr   error
		wantCalls int
	}{
		{name: "empty", n: 0, wantCalls: 1},
		{name: "short last page", n: 25, wantIDs: 25, wantCalls: 3},
		{name: "full last page asks once more", n: 20, wantIDs: 20, wantCalls: 3},
		{name: "queue unknown holds none", err: asynq.ErrQueueNotFound, wantCalls: 1},
		{name: "other error yielded", err: boom, wantErr: boom, wantCalls: 1},
		{name: "stopping early reads no further page", n: 100, take: 12, wantIDs: 12, wantCalls: 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls, ids := 0, 0
			var gotErr error
			for ti, err := range All(fakeList(tt.n, tt.err, &calls), "q", 10) {
				if err != nil {
					gotErr = err
					continue
				}
				if ti.ID != fmt.Sprint(ids) {
					t.Fatalf("task %d has id %s: out of order", ids, ti.ID)
				}
				if ids++; ids == tt.take {
					break
				}
			}
			if diff := cmp.Diff([]int{tt.wantIDs, tt.wantCalls}, []int{ids, calls}); diff != "" {
				t.Errorf("{tasks, pages asked} (-want +got):\n%s", diff)
			}
			if !errors.Is(gotErr, tt.wantErr) {
				t.Errorf("error %v, want %v", gotErr, tt.wantErr)
			}
		})
	}
}
