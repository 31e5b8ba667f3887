package upstream

import (
	"context"
	"errors"

	"golang.org/x/sync/singleflight"
)

// Flight makes one call (a token refresh, a login) for every goroutine of
// this process that needs it at the same time, and hands each the result.
type Flight[T any] struct {
	g singleflight.Group
}

// callerGone marks an error of a call whose caller's ctx ended first: it is
// that caller's, not the result the others waited for.
type callerGone struct{ err error }

func (e *callerGone) Error() string { return e.err.Error() }

// panicked carries a panic of the call to every caller, so that it surfaces
// in their goroutines (where handlers recover it) instead of singleflight's.
type panicked struct{ value any }

func (*panicked) Error() string { return "upstream: flight panicked" }

// Do returns fn's result, joining the call already running if there is one.
// A caller stops waiting when its ctx ends. fn runs under the ctx of the
// caller that started it; if that ctx ends first, the callers still waiting
// start fn anew rather than take another's cancellation as theirs.
func (f *Flight[T]) Do(ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	var zero T
	for {
		ch := f.g.DoChan("", func() (v any, err error) {
			defer func() {
				if r := recover(); r != nil {
					err = &panicked{value: r}
				}
			}()
			v, err = fn(ctx)
			if err != nil && ctx.Err() != nil {
				err = &callerGone{err: err}
			}
			return v, err
		})
		select {
		case <-ctx.Done():
			return zero, ctx.Err()
		case r := <-ch:
			var (
				gone *callerGone
				p    *panicked
			)
			switch {
			case errors.As(r.Err, &p):
				panic(p.value)
			case errors.As(r.Err, &gone) && ctx.Err() == nil:
				continue
			case gone != nil:
				return zero, gone.err
			case r.Err != nil:
				return zero, r.Err
			}
			return r.Val.(T), nil
		}
	}
}
