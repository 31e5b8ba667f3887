// Package tasklist reads one of asynq's task lists (pending, archived,
// completed...) of a queue whole, a page at a time.
package tasklist

import (
	"errors"
	"iter"

	"github.com/hibiken/asynq"
)

// Func is one of asynq.Inspector's List*Tasks methods.
type Func func(queue string, opts ...asynq.ListOption) ([]*asynq.TaskInfo, error)

// All yields every task that list returns for queue, reading pageSize at a
// time until a short page. A queue asynq does not know holds none.
func All(list Func, queue string, pageSize int) iter.Seq2[*asynq.TaskInfo, error] {
	return func(yield func(*asynq.TaskInfo, error) bool) {
		for page := 1; ; page++ {
			infos, err := list(queue, asynq.PageSize(pageSize), asynq.Page(page))
			if errors.Is(err, asynq.ErrQueueNotFound) {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			for _, t := range infos {
				if !yield(t, nil) {
					return
				}
			}
			if len(infos) < pageSize {
				return
			}
		}
	}
}
