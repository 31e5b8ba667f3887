// Package handlers executes lifecycle's tasks: one small handler struct per
// task type, built from interfaces (clients, storage, clock), and the
// middleware that turns their classified errors into asynq outcomes.
package handlers

import (
	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Deps are what the handlers need. Upstream clients may be nil: that system
// is not configured here.
type Deps struct {
	Artifi ArtifiPhotos
	Bigin  BiginPhotos
	BPM    BPMAvatars
	Store  ObjectDeleter
}

// Register wires every handler into mux. asynq's ServeMux panics on a
// duplicate pattern, so a type registered twice fails at start.
func Register(mux *asynq.ServeMux, d Deps) {
	mux.Handle(tasks.TypePhotoDelete, &PhotoDelete{Artifi: d.Artifi, Bigin: d.Bigin, BPM: d.BPM, Store: d.Store})
}
