package testutil

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

// AsynqRedis starts miniredis for asynq and returns its connection options.
// Its TTLs count down on the wall clock, as asynq's leases and locks need.
func AsynqRedis(t testing.TB) asynq.RedisClientOpt {
	t.Helper()
	mr, _ := Redis(t)
	mr.ClockTTL(true)
	return asynq.RedisClientOpt{Addr: mr.Addr()}
}

// Inspector returns an inspector on r, closed when the test ends.
func Inspector(t testing.TB, r asynq.RedisConnOpt) *asynq.Inspector {
	t.Helper()
	in := asynq.NewInspector(r)
	t.Cleanup(func() { _ = in.Close() })
	return in
}

// WaitTask waits until the task is in state want and returns its info; the
// test fails after timeout with the state it was last seen in.
func WaitTask(t testing.TB, in *asynq.Inspector, queue, id string, want asynq.TaskState, timeout time.Duration) *asynq.TaskInfo {
	t.Helper()
	var info *asynq.TaskInfo
	var err error
	Eventually(t, timeout, func() bool {
		info, err = in.GetTaskInfo(queue, id)
		return err == nil && info.State == want
	}, "task %s not %s after %v: %+v %v", id, want, timeout, Later(func() any { return info }), Later(func() any { return err }))
	return info
}
