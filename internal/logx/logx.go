// Package logx builds the process logger. Every line is structured (JSON by
// default, console for people at a terminal) and carries a timestamp to the
// millisecond and the component that wrote it.
//
// A line written with the task's context (zerolog's Event.Ctx) also carries
// the task it was written for (task_id, type; see WithTask) and, when a trace
// is active, its trace_id and span_id: a handler's own lines read like the
// outcome line that follows them.
package logx

import (
	"context"
	"io"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"
)

// TimeFormat is the format of every line's "time": RFC 3339 in milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

func init() {
	// zerolog's time format is global; every logger of the process is ours.
	zerolog.TimeFieldFormat = TimeFormat
}

// New returns a logger writing to w at level ("debug", "info", "warn",
// "error") in format ("json" or "console"). Both are validated by config.
func New(w io.Writer, level, format string) zerolog.Logger {
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	}
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).Hook(contextHook{}).With().Timestamp().Logger()
}

type taskKey struct{}

type task struct{ id, typ string }

// WithTask returns ctx carrying the task a handler runs: lines logged with
// it carry task_id and type.
func WithTask(ctx context.Context, id, typ string) context.Context {
	return context.WithValue(ctx, taskKey{}, task{id: id, typ: typ})
}

// contextHook adds what the event's context knows: the task, the trace.
type contextHook struct{}

func (contextHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	ctx := e.GetCtx()
	if ctx == nil {
		return
	}
	if t, ok := ctx.Value(taskKey{}).(task); ok {
		e.Str("task_id", t.id).Str("type", t.typ)
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		e.Str("trace_id", sc.TraceID().String()).Str("span_id", sc.SpanID().String())
	}
}

// Millis is a duration in milliseconds, for the fields named *_ms.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
