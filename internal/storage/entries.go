package storage

import (
	"context"
	"errors"
	"io/fs"
	"iter"
	"strings"
)

// Lister is the listing half of a Store.
type Lister interface {
	List(ctx context.Context, prefix, startAfter string) iter.Seq2[Object, error]
}

// entryLister is a store whose List leaves out some kinds of entry (the file
// store's symbolic links, devices, sockets, empty directories): Entries
// names them all.
type entryLister interface {
	Entries(ctx context.Context, prefix string) ([]string, error)
}

// Entries returns every entry under prefix (a directory prefix ending in
// "/"), of any kind: objects, and on a file store also symbolic links,
// directories and anything else found there. An erasure verifies with it:
// "nothing under users/2005/" must not skip what List does not call an
// object.
func Entries(ctx context.Context, s Lister, prefix string) ([]string, error) {
	if el, ok := s.(entryLister); ok {
		return el.Entries(ctx, prefix)
	}
	var out []string
	for o, err := range s.List(ctx, prefix, "") {
		if err != nil {
			return nil, err
		}
		out = append(out, o.Key)
	}
	return out, nil
}

// Entries walks the directory prefix names, reporting every entry in it
// (temporary files of an interrupted write included: they hold the data
// too), without following symbolic links.
func (s *fileStore) Entries(ctx context.Context, prefix string) ([]string, error) {
	if err := validatePrefix(prefix); err != nil {
		return nil, err
	}
	dir := strings.TrimSuffix(prefix, "/")
	if dir == "" || !strings.HasSuffix(prefix, "/") {
		return nil, errors.New("storage: Entries needs a directory prefix ending in /")
	}
	var out []string
	err := fs.WalkDir(s.root.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // pruned meanwhile, or never there
		}
		if err != nil {
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if p == dir {
			return nil
		}
		name := p
		if d.IsDir() {
			name += "/"
		}
		out = append(out, name)
		return nil
	})
	if err != nil {
		return nil, s.fail("list", prefix, err)
	}
	return out, nil
}

// Entries lets a traced store report every kind of entry, as its inner one.
func (t traced) Entries(ctx context.Context, prefix string) ([]string, error) {
	return Entries(ctx, t.s, prefix)
}
