package tasks

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// taskID derives a deterministic asynq task id: the type, a colon, and the
// first 32 hex digits (128 bits: collisions are not a practical concern) of
// the SHA-256 of fields. The fields are hashed as a JSON array so that no two
// different lists encode alike ("a:b","c" vs "a","b:c"), which a plain
// separator cannot promise since ids may contain any separator we would pick.
// A hash rather than the raw ids keeps the id short and free of characters
// that asynqmon's URLs would trip on.
func taskID(typ string, fields ...string) string {
	b, err := json.Marshal(fields)
	if err != nil {
		// A []string always marshals; this is unreachable.
		panic(err)
	}
	sum := sha256.Sum256(b)
	return typ + ":" + hex.EncodeToString(sum[:16])
}
