package storage_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/lifecycle-worker/lifecycle/internal/storage"
)

// Erasing a user: stream the prefix and delete what it lists. The real
// handler deletes every 1,000 keys as the listing goes, so memory stays flat
// however many photos the user has, and resumes after a crash with
// List(ctx, prefix, lastKey).
func Example_erase() {
	dir, _ := os.MkdirTemp("", "storage-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := storage.Open(ctx, "file://"+dir, storage.Credentials{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	for _, key := range []string{"users/1/a.jpg", "users/1/b.jpg", "users/10/c.jpg"} {
		s.Put(ctx, key, strings.NewReader("jpeg"), 4)
	}

	var batch []string
	for obj, err := range s.List(ctx, "users/1/", "") { // "users/1" would match users/10 too
		if err != nil {
			fmt.Println(err)
			return
		}
		batch = append(batch, obj.Key)
	}
	fmt.Println("erasing", batch)
	if err := s.DeleteMany(ctx, batch); err != nil {
		fmt.Println(err)
	}
	for obj := range s.List(ctx, "users/", "") {
		fmt.Println("left:", obj.Key)
	}
	// Output:
	// erasing [users/1/a.jpg users/1/b.jpg]
	// left: users/10/c.jpg
}
