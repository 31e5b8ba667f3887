package storage

import (
	"errors"
	"io/fs"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

// What the file system says decides whether the task retries. Denied
// access, a read-only mount and a full disk or quota are faults an operator
// ends without touching the task: retried and reported as degraded, not
// dead-lettered at the first attempt. A key the tree cannot hold is
// permanent.
func TestFileErrorClasses(t *testing.T) {
	t.Parallel()
	type result struct {
		Class errclass.Class
		Cause string // Degradation: what Options.Degraded is told
	}
	path := func(op string, errno syscall.Errno) error {
		return &fs.PathError{Op: op, Path: "users/1/a", Err: errno}
	}
	tests := []struct {
		name string
		err  error
		want result
	}{
		{"EACCES", path("open", syscall.EACCES), result{errclass.Retry, CausePermission}},
		{"EPERM", path("unlinkat", syscall.EPERM), result{errclass.Retry, CausePermission}},
		{"EROFS", path("openat", syscall.EROFS), result{errclass.Retry, CausePermission}},
		{"ENOSPC", path("write", syscall.ENOSPC), result{errclass.Retry, CauseQuota}},
		{"EDQUOT", path("write", syscall.EDQUOT), result{errclass.Retry, CauseQuota}},
		{"EIO", path("read", syscall.EIO), result{errclass.Retry, ""}},
		{"ENOTDIR", path("openat", syscall.ENOTDIR), result{errclass.Permanent, ""}},
		{"EISDIR", path("openat", syscall.EISDIR), result{errclass.Permanent, ""}},
		{"ENAMETOOLONG", path("openat", syscall.ENAMETOOLONG), result{errclass.Permanent, ""}},
		{"Symlink", errors.Join(errLayout, errors.New("users/1 is a symbolic link")), result{errclass.Permanent, ""}},
	}
	got := map[string]result{}
	want := map[string]result{}
	for _, tt := range tests {
		err := fileFail("put", "users/1/a", tt.err)
		got[tt.name] = result{errclass.Of(err), Degradation(err)}
		want[tt.name] = tt.want
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("classes (-want +got):\n%s", diff)
	}
	if err := fileFail("put", "users/1/a", path("open", syscall.EACCES)); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("EACCES = %v, no longer fs.ErrPermission", err)
	}
}
