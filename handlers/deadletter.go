package handlers

import (
	"context"

	"github.com/hibiken/asynq"
)

// DeadLetterArchive handles deadletters:archive: one pass of the archiver.
// Two passes at once are harmless: a dead letter is stored at one key and
// counted once (see deadletter.Archiver).
type DeadLetterArchive struct{ Archiver DeadLetters }

func (h *DeadLetterArchive) ProcessTask(ctx context.Context, _ *asynq.Task) error {
	SetSystem(ctx, "storage")
	_, err := h.Archiver.Run(ctx)
	return err
}
