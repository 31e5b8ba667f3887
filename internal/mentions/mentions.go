// Package mentions tells whether something the service keeps of a task (its
// payload, or a copy of it) names one of a set of user ids, so that an
// erasure finds its subjects in our own queues and copies.
//
// A payload names an id when one of its JSON strings is the id, or is a
// storage key in the id's folder (skeys.OwnerOf): a photo delete carries
// users/{id}/photos/... as well as the id. Only whole strings count, never
// a substring or a number: an id "12" must not take every task that
// mentions photo 4127 or slice 12 with it, since deleting another person's
// task loses their work. A payload that is not JSON names nobody we could
// tell; such a task is a dead letter already (tasks refuses it), and
// matching bytes would hit unrelated tasks for short ids.
package mentions

import (
	"encoding/json"
	"slices"

	"github.com/lifecycle-worker/lifecycle/internal/skeys"
)

// maxDepth bounds the walk of a hostile payload.
const maxDepth = 64

// Names reports whether payload names any of ids.
func Names(payload []byte, ids []string) bool {
	if len(ids) == 0 {
		return false
	}
	var v any
	if json.Unmarshal(payload, &v) != nil {
		return false
	}
	return names(v, ids, 0)
}

func names(v any, ids []string, depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch v := v.(type) {
	case string:
		return slices.Contains(ids, v) || slices.Contains(ids, skeys.OwnerOf(v))
	case []any:
		for _, e := range v {
			if names(e, ids, depth+1) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if slices.Contains(ids, k) || names(e, ids, depth+1) {
				return true
			}
		}
	}
	return false
}
