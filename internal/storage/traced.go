package storage

import (
	"context"
	"errors"
	"io"
	"iter"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Traced returns s with a child span per operation ("storage {op}") in the
// trace of the caller's context. Keys are not recorded (they hold user
// ids); the store's kind, counts and whether the object was missing are.
func Traced(s Store) Store {
	return traced{s: s, tracer: otel.Tracer("github.com/lifecycle-worker/lifecycle/internal/storage")}
}

type traced struct {
	s      Store
	tracer trace.Tracer
}

func (t traced) start(ctx context.Context, op string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, "storage "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(append(attrs, attribute.String("lifecycle.storage.op", op))...))
}

// end records err on span: a missing object is an answer, not an error.
func end(span trace.Span, err error) {
	switch {
	case err == nil:
	case isNotFound(err):
		span.SetAttributes(attribute.Bool("lifecycle.storage.not_found", true))
	default:
		span.SetStatus(codes.Error, "storage error")
	}
	span.End()
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, ErrNotFound) }

func (t traced) Stat(ctx context.Context, key string) (Object, error) {
	ctx, span := t.start(ctx, "stat")
	o, err := t.s.Stat(ctx, key)
	end(span, err)
	return o, err
}

func (t traced) List(ctx context.Context, prefix, startAfter string) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		ctx, span := t.start(ctx, "list")
		n := 0
		var last error
		defer func() {
			span.SetAttributes(attribute.Int("lifecycle.storage.objects", n))
			end(span, last)
		}()
		for o, err := range t.s.List(ctx, prefix, startAfter) {
			if err != nil {
				last = err
			} else {
				n++
			}
			if !yield(o, err) {
				return
			}
		}
	}
}

func (t traced) Delete(ctx context.Context, key string) error {
	ctx, span := t.start(ctx, "delete")
	err := t.s.Delete(ctx, key)
	end(span, err)
	return err
}

func (t traced) DeleteMany(ctx context.Context, keys []string) error {
	ctx, span := t.start(ctx, "delete_many", attribute.Int("lifecycle.storage.objects", len(keys)))
	err := t.s.DeleteMany(ctx, keys)
	end(span, err)
	return err
}

func (t traced) Copy(ctx context.Context, src, dst string) error {
	ctx, span := t.start(ctx, "copy")
	err := t.s.Copy(ctx, src, dst)
	end(span, err)
	return err
}

func (t traced) Move(ctx context.Context, src, dst string) error {
	ctx, span := t.start(ctx, "move")
	err := t.s.Move(ctx, src, dst)
	end(span, err)
	return err
}

func (t traced) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	ctx, span := t.start(ctx, "put", attribute.Int64("lifecycle.storage.bytes", size))
	err := t.s.Put(ctx, key, r, size)
	end(span, err)
	return err
}

// Get's span covers the request, not the reading of the body.
func (t traced) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	ctx, span := t.start(ctx, "get")
	rc, err := t.s.Get(ctx, key)
	end(span, err)
	return rc, err
}

func (t traced) String() string { return t.s.String() }
func (t traced) Close() error   { return t.s.Close() }
