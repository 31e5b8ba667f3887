package storage

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzValidateKey: a key the stores accept is a relative path of non-empty
// segments, none of them "." or "..", so that no store, the file store
// least of all, can be made to reach outside its root.
func FuzzValidateKey(f *testing.F) {
	f.Add("users/u-1/photos/1.jpg")
	f.Fuzz(func(t *testing.T, key string) {
		if ValidateKey(key) != nil {
			return
		}
		if strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") || !utf8.ValidString(key) ||
			len(key) > MaxKeyLength || strings.ContainsAny(key, "\x00\\") {
			t.Fatalf("ValidateKey accepted %q", key)
		}
		for seg := range strings.SplitSeq(key, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, tmpPrefix) {
				t.Fatalf("ValidateKey accepted %q with segment %q", key, seg)
			}
		}
	})
}
