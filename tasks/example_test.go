package tasks_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

func ExampleNewPhotoDeleteTask() {
	t, err := tasks.NewPhotoDeleteTask(tasks.PhotoDeletePayload{
		System:    tasks.SystemArtifiV4,
		UserID:    "cust-1001",
		PhotoID:   "55012",
		RequestID: "gdpr-7781",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(t.Type())
	fmt.Println(string(t.Payload()))
	// Output:
	// photo:delete
	// {"system":"artifi-v4","user_id":"cust-1001","request_id":"gdpr-7781","photo_id":"55012"}
}

func ExampleNewPhotoDeleteTask_invalid() {
	_, err := tasks.NewPhotoDeleteTask(tasks.PhotoDeletePayload{
		System: tasks.SystemStorage,
		UserID: "cust-1001",
		Key:    "users/cust-1002/avatar.png",
	})
	fmt.Println(err)

	var ve *tasks.ValidationError
	if errors.As(err, &ve) {
		fmt.Printf("field %s: %s\n", ve.Field, ve.Problem)
	}
	// Output:
	// photo:delete: invalid payload: key: must be under "users/cust-1001/" (the payload's user_id)
	// field key: must be under "users/cust-1001/" (the payload's user_id)
}

func ExampleNewUserMergeTask() {
	t, err := tasks.NewUserMergeTask(tasks.UserMergePayload{GuestID: "guest-8f3a", UserID: "cust-1001"})
	if err != nil {
		panic(err)
	}
	fmt.Println(t.Type())
	fmt.Println(string(t.Payload()))
	// Output:
	// user:merge
	// {"guest_id":"guest-8f3a","user_id":"cust-1001"}
}

// The worker side: decode and validate in one call; poison input is marked so
// that asynq archives it instead of retrying.
func ExampleDecode() {
	handle := func(ctx context.Context, t *asynq.Task) error {
		p, err := tasks.Decode[tasks.PhotoDeletePayload](t)
		if err != nil {
			return err
		}
		fmt.Println("delete", p.System, p.Module, p.RecordID)
		return nil
	}

	good, _ := tasks.NewPhotoDeleteTask(tasks.PhotoDeletePayload{
		System: tasks.SystemBigin, UserID: "cust-1001", Module: tasks.BiginContacts, RecordID: "3652397000000649013",
	})
	_ = handle(context.Background(), good)

	err := handle(context.Background(), asynq.NewTask(tasks.TypePhotoDelete, []byte(`{"system":"bigin"}`)))
	fmt.Println(err)
	fmt.Println("skip retry:", errors.Is(err, asynq.SkipRetry))
	// Output:
	// delete bigin Contacts 3652397000000649013
	// photo:delete: invalid payload: user_id: required; module: required; record_id: required: skip retry for the task
	// skip retry: true
}

func ExampleQueueWeights() {
	w := tasks.QueueWeights()
	for _, q := range tasks.Queues() {
		fmt.Println(q, w[q])
	}
	// A worker serves them weighted, not strictly:
	_ = asynq.Config{Queues: tasks.QueueWeights(), StrictPriority: false}
	// Output:
	// merge 6
	// photo 3
	// erase 2
	// sweep 1
	// webhook 1
}
