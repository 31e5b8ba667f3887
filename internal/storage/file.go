package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

// fileStore keeps each object as a file under a root directory, the key
// being its path. Every access goes through an os.Root, so no key can reach
// outside the directory; symbolic links inside it are refused as well,
// because a link would let two keys alias one object (erasing one user's
// photos through another user's prefix).
//
// Limits of the mapping, which S3 does not have: a key cannot also be the
// directory of other keys ("a" and "a/b"), and listing memory grows with the
// entries of the largest single directory (each is read whole to sort it),
// not with the total number of keys.
type fileStore struct {
	root *os.Root
	loc  Location
	// missing, if not nil, is told each time a call finds the directory
	// gone (Options.MissingBucket).
	missing func(dir string)
	// degraded, if not nil, is told the cause of each call refused for a
	// reason a person fixes (Options.Degraded).
	degraded func(cause string)
}

var _ Store = (*fileStore)(nil)

func openFile(dir string, opts Options) (Store, error) {
	loc := Location{Scheme: "file", Path: dir}
	fail := func(what string, err error) (Store, error) {
		return nil, errclass.AsPermanent(fmt.Errorf("storage: %s: %s: %w", loc, what, err))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail("cannot create the directory", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fail("cannot open the directory", err)
	}
	s := &fileStore{root: root, loc: loc, missing: opts.MissingBucket, degraded: opts.Degraded}
	// A read-only mount or wrong owner shows now rather than at the first
	// task that writes.
	f, name, err := s.createTemp(".")
	if err != nil {
		root.Close()
		return fail("directory not writable", err)
	}
	f.Close()
	if err := root.Remove(name); err != nil {
		root.Close()
		return fail("directory not writable", err)
	}
	return s, nil
}

func (s *fileStore) String() string { return s.loc.String() }

// present checks that the store's directory is still the one it opened,
// the file store's "bucket known to exist": removed or replaced (a volume
// unmounted, say), every key would read as absent, and every deletion be
// recorded as already gone while nothing was deleted.
func (s *fileStore) present(op, key string) error {
	opened, err := s.root.Stat(".")
	if err != nil {
		return s.fail(op, key, err)
	}
	named, err := os.Stat(s.loc.Path)
	switch {
	case err == nil && os.SameFile(opened, named):
		return nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return s.fail(op, key, err)
	}
	if s.missing != nil {
		s.missing(s.loc.Path)
	}
	return errclass.AsPermanent(fmt.Errorf("storage: %s %q: %w: the directory %s was removed or replaced", op, key, ErrBucketMissing, s.loc.Path))
}

func (s *fileStore) Close() error { return s.root.Close() }

// fail is fileFail for a call of s: a refusal a person must fix is also
// reported to Options.Degraded.
func (s *fileStore) fail(op, key string, err error) error {
	return report(s.degraded, fileFail(op, key, err))
}

// fileFail wraps a filesystem error with the operation and key, classed.
// A layout the tree cannot hold (a symlink, a file where a directory must
// be, a name too long) is permanent: the key itself is wrong. Denied access
// (EACCES, EPERM, a read-only mount) and a full disk or quota (ENOSPC,
// EDQUOT) are retried with backoff and marked degraded (see report): they
// are states of the machine that an operator ends (a chmod, a remount, a
// cleanup) without touching the task, and dead-lettering them at the first
// attempt left every task of a 60 s fault undone until someone ran
// `dlq retry --all`. Anything else (an I/O error) is retried as well.
func fileFail(op, key string, err error) error {
	err = fmt.Errorf("storage: %s %q: %w", op, key, err)
	switch {
	case errors.Is(err, errLayout) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EISDIR) ||
		errors.Is(err, syscall.ENAMETOOLONG):
		return errclass.AsPermanent(err)
	case errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS):
		return degrade(CausePermission, err)
	case errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT):
		return degrade(CauseQuota, err)
	}
	return err
}

// errLayout marks a key the directory tree cannot hold: a symlink on its
// path, or a file where a directory must be (or the reverse).
var errLayout = errors.New("refused by the file store")

// lookup returns what is at key, checking every component of its path: nil
// info (and nil error) when nothing is there. A symlink anywhere is an error
// naming it; so is a file where the path needs a directory, when
// wantParents is set (a write must fail loudly, a read only finds nothing).
func (s *fileStore) lookup(key string, wantParents bool) (fs.FileInfo, error) {
	for i := 0; ; {
		j := strings.IndexByte(key[i:], '/')
		last := j < 0
		p := key
		if !last {
			p = key[:i+j]
		}
		fi, err := s.root.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, nil
		case err != nil:
			return nil, err
		case fi.Mode()&fs.ModeSymlink != 0:
			return nil, fmt.Errorf("%q is a symbolic link: %w", p, errLayout)
		case !last && !fi.IsDir():
			if wantParents {
				return nil, fmt.Errorf("%q is an object, so it cannot hold other keys: %w", p, errLayout)
			}
			return nil, nil
		case last:
			return fi, nil
		}
		i += j + 1
	}
}

// object returns the regular file at key: nil when there is none (a
// directory is a prefix, not an object, as in S3).
func (s *fileStore) object(key string) (fs.FileInfo, error) {
	fi, err := s.lookup(key, false)
	if err != nil || fi == nil || !fi.Mode().IsRegular() {
		return nil, err
	}
	return fi, nil
}

func (s *fileStore) Stat(ctx context.Context, key string) (Object, error) {
	if err := ValidateKey(key); err != nil {
		return Object{}, err
	}
	if err := s.present("stat", key); err != nil {
		return Object{}, err
	}
	fi, err := s.object(key)
	if err != nil {
		return Object{}, s.fail("stat", key, err)
	}
	if fi == nil {
		return Object{}, notFound("stat", key)
	}
	return Object{Key: key, Size: fi.Size(), Modified: fi.ModTime()}, nil
}

func (s *fileStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if err := s.present("get", key); err != nil {
		return nil, err
	}
	fi, err := s.object(key)
	if err != nil {
		return nil, s.fail("get", key, err)
	}
	if fi == nil {
		return nil, notFound("get", key)
	}
	f, err := s.root.Open(key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notFound("get", key)
	}
	if err != nil {
		return nil, s.fail("get", key, err)
	}
	return f, nil
}

func (s *fileStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := s.present("put", key); err != nil {
		return err
	}
	if err := s.write(ctx, key, r, size); err != nil {
		return s.fail("put", key, err)
	}
	return nil
}

// write puts r at key atomically: a temporary file in the same directory,
// fsync, rename, fsync of the directory. A crash leaves the old object or
// the new one, plus at worst a temporary file that List never shows.
func (s *fileStore) write(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := s.checkWritable(key); err != nil {
		return err
	}
	dir := path.Dir(key)
	f, tmp, err := s.createTemp(dir)
	if errors.Is(err, fs.ErrNotExist) {
		// The directory was missing, or pruned by a concurrent delete
		// between MkdirAll and the create.
		if err = s.root.MkdirAll(dir, 0o755); err == nil {
			f, tmp, err = s.createTemp(dir)
		}
	}
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			s.root.Remove(tmp)
		}
	}()
	src := io.Reader(ctxReader{ctx, r})
	if size >= 0 {
		// Exactly size bytes, as S3 stores: a short body is an error.
		n, err := io.CopyN(f, src, size)
		if err == io.EOF {
			return fmt.Errorf("body ended after %d of %d bytes", n, size)
		}
		if err != nil {
			return err
		}
	} else if _, err := io.Copy(f, src); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := s.root.Rename(tmp, key); err != nil {
		return err
	}
	done = true
	return s.syncDir(dir)
}

// checkWritable refuses a key whose path the tree cannot hold.
func (s *fileStore) checkWritable(key string) error {
	fi, err := s.lookup(key, true)
	if err != nil {
		return err
	}
	if fi != nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%q is a directory holding other keys: %w", key, errLayout)
	}
	return nil
}

func (s *fileStore) createTemp(dir string) (*os.File, string, error) {
	for {
		name := path.Join(dir, tmpPrefix+strconv.FormatUint(rand.Uint64(), 36))
		f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
}

func (s *fileStore) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *fileStore) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := s.present("delete", key); err != nil {
		return err
	}
	if err := s.remove(key); err != nil {
		return s.fail("delete", key, err)
	}
	s.prune(path.Dir(key))
	return nil
}

func (s *fileStore) remove(key string) error {
	fi, err := s.lookup(key, false)
	if err != nil {
		return err
	}
	if fi == nil || fi.IsDir() {
		return nil
	}
	if err := s.root.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// prune removes dir and its parents while they are empty, so that erased
// users leave no directories behind to slow listings down. Best effort: a
// directory that is not empty (or anything else) stops it.
func (s *fileStore) prune(dir string) {
	for dir != "." && dir != "/" && dir != "" {
		// Only ever a directory: Remove would delete a file put at this
		// name since.
		if fi, err := s.root.Lstat(dir); err != nil || !fi.IsDir() {
			return
		}
		if err := s.root.Remove(dir); err != nil {
			return
		}
		dir = path.Dir(dir)
	}
}

func (s *fileStore) DeleteMany(ctx context.Context, keys []string) error {
	if len(keys) > 0 {
		if err := s.present("delete", keys[0]); err != nil {
			failed := make([]KeyFailure, len(keys))
			for i, key := range keys {
				failed[i] = KeyFailure{Key: key, Err: err}
			}
			return deleteError(failed, len(keys))
		}
	}
	var failed []KeyFailure
	dirs := map[string]struct{}{}
	for i, key := range keys {
		if err := ctx.Err(); err != nil {
			for _, k := range keys[i:] {
				failed = append(failed, KeyFailure{Key: k, Err: err})
			}
			break
		}
		if err := ValidateKey(key); err != nil {
			failed = append(failed, KeyFailure{Key: key, Err: err})
			continue
		}
		if err := s.remove(key); err != nil {
			failed = append(failed, KeyFailure{Key: key, Err: s.fail("delete", key, err)})
			continue
		}
		dirs[path.Dir(key)] = struct{}{}
	}
	// Deepest first, so that a parent emptied by its children's pruning
	// goes too.
	for _, d := range slices.SortedFunc(func(yield func(string) bool) {
		for d := range dirs {
			if !yield(d) {
				return
			}
		}
	}, func(a, b string) int { return len(b) - len(a) }) {
		s.prune(d)
	}
	return deleteError(failed, len(keys))
}

func (s *fileStore) Copy(ctx context.Context, src, dst string) error {
	if err := validatePair(src, dst); err != nil {
		return err
	}
	if err := s.present("copy", src); err != nil {
		return err
	}
	fi, err := s.object(src)
	if err != nil {
		return s.fail("copy", src, err)
	}
	if fi == nil {
		return notFound("copy", src)
	}
	if src == dst {
		return nil
	}
	f, err := s.root.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return notFound("copy", src)
	}
	if err != nil {
		return s.fail("copy", src, err)
	}
	defer f.Close()
	if err := s.write(ctx, dst, f, -1); err != nil {
		return s.fail("copy to", dst, err)
	}
	return nil
}

func (s *fileStore) Move(ctx context.Context, src, dst string) error {
	if err := validatePair(src, dst); err != nil {
		return err
	}
	if err := s.present("move", src); err != nil {
		return err
	}
	fi, err := s.object(src)
	if err != nil {
		return s.fail("move", src, err)
	}
	if fi == nil {
		return moveDone(ctx, s, src, dst)
	}
	if src == dst {
		return nil
	}
	if err := s.checkWritable(dst); err != nil {
		return s.fail("move to", dst, err)
	}
	if err := s.root.MkdirAll(path.Dir(dst), 0o755); err != nil {
		return s.fail("move to", dst, err)
	}
	// One rename: the file store moves atomically, without a copy.
	if err := s.root.Rename(src, dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return moveDone(ctx, s, src, dst)
		}
		return s.fail("move", src, err)
	}
	if err := s.syncDir(path.Dir(dst)); err != nil {
		return s.fail("move to", dst, err)
	}
	s.prune(path.Dir(src))
	return nil
}

// moveDone decides a Move whose source is missing: done if the destination
// is there (a repeat after a crash or a completed run), not found otherwise.
func moveDone(ctx context.Context, s Store, src, dst string) error {
	_, err := s.Stat(ctx, dst)
	if errors.Is(err, ErrNotFound) {
		return notFound("move", src)
	}
	return err
}

func validatePair(src, dst string) error {
	if err := ValidateKey(src); err != nil {
		return err
	}
	return ValidateKey(dst)
}

// dirEntry is one name of a directory being listed. sortKey is the name,
// plus "/" for a directory: sorting by it orders the whole tree by full key
// (the keys under "a" start with "a/", which sorts after "a.b" but before
// "a0"), so a depth-first walk in this order yields keys in S3's order.
type dirEntry struct {
	sortKey string
	dir     bool
}

func (s *fileStore) List(ctx context.Context, prefix, startAfter string) iter.Seq2[Object, error] {
	if err := validatePrefix(prefix); err != nil {
		return errorSeq(err)
	}
	if err := s.present("list", prefix); err != nil {
		return errorSeq(err)
	}
	return func(yield func(Object, error) bool) {
		// Start in the deepest directory the prefix names whole; the rest of
		// the prefix filters that directory's names ("users/1" reads users/
		// and keeps names starting with "1").
		dir, filter := "", prefix
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			dir, filter = prefix[:i+1], prefix[i+1:]
		}
		root := s.root
		if dir != "" {
			fi, err := s.lookup(strings.TrimSuffix(dir, "/"), false)
			if err != nil {
				yield(Object{}, s.fail("list", prefix, err))
				return
			}
			if fi == nil || !fi.IsDir() {
				return
			}
			sub, err := s.root.OpenRoot(strings.TrimSuffix(dir, "/"))
			if errors.Is(err, fs.ErrNotExist) {
				return // emptied and pruned since
			}
			if err != nil {
				yield(Object{}, s.fail("list", prefix, err))
				return
			}
			defer sub.Close()
			root = sub
		}
		s.walk(ctx, root, dir, filter, startAfter, yield)
	}
}

// walk yields the objects under dir (a key prefix ending in "/", or "" for
// the root) whose names start with filter, in key order, strictly after
// after. It returns false once the caller stopped or an error was yielded.
//
// root is dir itself, opened as an os.Root inside the store's: each
// directory is opened once and its entries are looked at by their own
// names, instead of resolving every object's whole key from the store's
// root (an openat per path segment: 68% of a dry-run sweep, see
// bench/README.md). Nothing escapes: a subdirectory is opened through its
// parent's root, which refuses symbolic links leading out of it.
func (s *fileStore) walk(ctx context.Context, root *os.Root, dir, filter, after string, yield func(Object, error) bool) bool {
	if after != "" {
		switch {
		case after < dir:
			after = "" // every key here sorts after it
		case !strings.HasPrefix(after, dir):
			return true // every key here sorts before it
		}
	}
	entries, err := readDir(root, filter)
	if errors.Is(err, fs.ErrNotExist) {
		return true // emptied and pruned while the walk was elsewhere
	}
	if err != nil {
		return yield(Object{}, s.fail("list", dir, err))
	}
	start := 0
	if after != "" {
		// Skip whole entries before after: the first one to keep sorts
		// after it, or is the directory that holds it.
		rel := after[len(dir):]
		start = sort.Search(len(entries), func(i int) bool {
			e := entries[i]
			return e.sortKey > rel || (e.dir && strings.HasPrefix(rel, e.sortKey))
		})
	}
	for _, e := range entries[start:] {
		if err := ctx.Err(); err != nil {
			return yield(Object{}, err)
		}
		key := dir + e.sortKey
		if e.dir {
			if after != "" && key < after && !strings.HasPrefix(after, key) {
				continue // every key in it sorts before after
			}
			sub, err := root.OpenRoot(strings.TrimSuffix(e.sortKey, "/"))
			if errors.Is(err, fs.ErrNotExist) {
				continue // emptied and pruned since the directory was read
			}
			if err != nil {
				return yield(Object{}, s.fail("list", key, err))
			}
			more := s.walk(ctx, sub, key, "", after, yield)
			sub.Close()
			if !more {
				return false
			}
			continue
		}
		if key <= after {
			continue
		}
		fi, err := root.Lstat(e.sortKey)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since the directory was read
		}
		if err != nil {
			return yield(Object{}, s.fail("list", key, err))
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		if !yield(Object{Key: key, Size: fi.Size(), Modified: fi.ModTime()}, nil) {
			return false
		}
	}
	return true
}

// readDir returns the entries of root's directory whose names start with
// filter, sorted by sortKey. Temporary files and anything but regular files and directories
// (symbolic links above all) are left out: they are not objects.
func readDir(root *os.Root, filter string) ([]dirEntry, error) {
	f, err := root.Open(".")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var entries []dirEntry
	for {
		batch, err := f.ReadDir(1024)
		for _, d := range batch {
			name := d.Name()
			if !strings.HasPrefix(name, filter) || strings.HasPrefix(name, tmpPrefix) {
				continue
			}
			switch t := d.Type(); {
			case t.IsDir():
				entries = append(entries, dirEntry{sortKey: name + "/", dir: true})
			case t.IsRegular():
				entries = append(entries, dirEntry{sortKey: name})
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(entries, func(a, b dirEntry) int { return strings.Compare(a.sortKey, b.sortKey) })
	return entries, nil
}

// ctxReader stops a long copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
