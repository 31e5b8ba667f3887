package handlers

import (
	"context"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"
)

// ServerParams configure the asynq server that runs our handlers.
type ServerParams struct {
	Redis           asynq.RedisConnOpt
	Concurrency     int
	Queues          map[string]int
	ShutdownTimeout time.Duration
	Log             zerolog.Logger
	// BaseContext is the parent of every task's context; cancelled by
	// nothing of ours, so shutdown is asynq's to drive.
	BaseContext func() context.Context
	// TaskCheckInterval is how long an idle worker waits before it looks at
	// its empty queues again; 0 is asynq's default (1 s).
	TaskCheckInterval time.Duration
}

// NewServer returns an asynq server wired to our error classes: the retry
// delay honours Retry-After, and rate limits do not spend retries. Queues are
// weighted, not strict: a flood of one kind of work slows the others down but
// never stops them.
func NewServer(p ServerParams) *asynq.Server {
	return asynq.NewServer(p.Redis, asynq.Config{
		Concurrency:       p.Concurrency,
		Queues:            p.Queues,
		RetryDelayFunc:    RetryDelay,
		IsFailure:         IsFailure,
		ShutdownTimeout:   p.ShutdownTimeout,
		BaseContext:       p.BaseContext,
		TaskCheckInterval: p.TaskCheckInterval,
		Logger:            asynqLogger{p.Log.With().Str("component", "asynq").Logger()},
		LogLevel:          asynq.InfoLevel,
	})
}

// asynqLogger routes asynq's own messages through zerolog, so the process
// writes one log format.
type asynqLogger struct{ l zerolog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug().Msg(fmt.Sprint(args...)) }
func (a asynqLogger) Info(args ...any)  { a.l.Info().Msg(fmt.Sprint(args...)) }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn().Msg(fmt.Sprint(args...)) }
func (a asynqLogger) Error(args ...any) { a.l.Error().Msg(fmt.Sprint(args...)) }
func (a asynqLogger) Fatal(args ...any) { a.l.Fatal().Msg(fmt.Sprint(args...)) }
