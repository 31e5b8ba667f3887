package taskstest_test

import (
	"context"
	"fmt"

	"github.com/lifecycle-worker/lifecycle/tasks"
	"github.com/lifecycle-worker/lifecycle/tasks/taskstest"
)

// checkout is a producer that depends on the interface, not on Redis.
type checkout struct{ tasks tasks.Enqueuer }

func (c checkout) complete(ctx context.Context, guestID, userID, orderID string) error {
	_, err := c.tasks.EnqueueMerge(ctx, tasks.UserMergePayload{GuestID: guestID, UserID: userID, RequestID: orderID})
	return err
}

// A producer's test swaps in a Recorder and checks what was enqueued. The
// retry of the same checkout is answered as a duplicate, as Redis would.
func ExampleRecorder() {
	rec := &taskstest.Recorder{}
	co := checkout{tasks: rec}
	_ = co.complete(context.Background(), "guest-8f3a", "cust-1001", "order-5521")
	_ = co.complete(context.Background(), "guest-8f3a", "cust-1001", "order-5521") // retried

	for _, m := range rec.Merges() {
		fmt.Println(m.GuestID, "->", m.UserID)
	}
	// Output:
	// guest-8f3a -> cust-1001
}
