package deadletter

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// seedDeadLetters archives n tasks of type typ in queue, named prefix-0...,
// as asynq does with a task whose retries are spent.
func seedDeadLetters(t *testing.T, opt asynq.RedisClientOpt, in *asynq.Inspector, queue, typ, prefix string, n int) {
	t.Helper()
	client := asynq.NewClient(opt)
	defer client.Close()
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if _, err := client.Enqueue(asynq.NewTask(typ, nil), asynq.Queue(queue), asynq.TaskID(id)); err != nil {
			t.Fatal(err)
		}
		if err := in.ArchiveTask(queue, id); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLetters(t *testing.T) {
	opt := testutil.AsynqRedis(t)
	in := testutil.Inspector(t, opt)
	// More than a page in one queue, so that paging is exercised.
	seedDeadLetters(t, opt, in, "photo", "photo:delete", "p", pageSize+3)
	seedDeadLetters(t, opt, in, "merge", "user:merge", "m", 2)
	seedDeadLetters(t, opt, in, "other", "x:y", "o", 1)
	letters := Letters{Inspector: in, First: []string{"merge", "photo", "erase"}}

	count := func(queue, typ string) map[string]int {
		got := map[string]int{}
		var order []string
		for l, err := range letters.All(queue, typ) {
			if err != nil {
				t.Fatal(err)
			}
			if got[l.Queue] == 0 {
				order = append(order, l.Queue)
			}
			got[l.Queue]++
		}
		got["order: "+fmt.Sprint(order)] = 1
		return got
	}
	tests := []struct {
		name, queue, typ string
		want             map[string]int
	}{
		// Ours first in their order ("erase" holds none), then the rest.
		{"every queue", "", "", map[string]int{"merge": 2, "photo": pageSize + 3, "other": 1, "order: [merge photo other]": 1}},
		{"one queue", "photo", "", map[string]int{"photo": pageSize + 3, "order: [photo]": 1}},
		{"one type", "", "user:merge", map[string]int{"merge": 2, "order: [merge]": 1}},
		{"a queue asynq does not know", "nowhere", "", map[string]int{"order: []": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, count(tt.queue, tt.typ)); diff != "" {
				t.Errorf("dead letters by queue (-want +got):\n%s", diff)
			}
		})
	}

	if l, err := letters.Find("m-1", ""); err != nil || l.Queue != "merge" || l.Type != "user:merge" {
		t.Errorf("Find m-1 in any queue = %+v, %v; want it in merge", l, err)
	}
	if _, err := letters.Find("m-1", "photo"); err == nil {
		t.Error("Find m-1 in photo found it")
	}
	if _, err := letters.Find("nope", ""); err == nil {
		t.Error("Find of an id no queue holds found it")
	}
}
