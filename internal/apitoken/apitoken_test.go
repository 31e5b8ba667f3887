package apitoken

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tok, secret, err := New("checkout", []Scope{ScopeMerge, ScopePhoto})
	if err != nil {
		t.Fatal(err)
	}
	file := "# tokens\n\n" + tok.Line() + "\n"
	got, err := Parse(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Token{tok}, got); diff != "" {
		t.Errorf("Parse(Line()) (-want +got):\n%s", diff)
	}
	if strings.Contains(file, secret) || strings.Contains(file, strings.TrimPrefix(secret, "lct_")) {
		t.Error("the file line holds the secret")
	}
	set, _ := NewSet(got...)
	if found, ok := set.Lookup(secret); !ok || found.Name != "checkout" || !found.Has(ScopePhoto) || found.Has(ScopeAdmin) {
		t.Errorf("Lookup(secret) = %+v, %v", found, ok)
	}
	for _, wrong := range []string{"", secret + "x", secret[:len(secret)-1], strings.ToUpper(secret)} {
		if _, ok := set.Lookup(wrong); ok {
			t.Errorf("Lookup(%q) found a token", wrong)
		}
	}
}

func TestParseNamesTheProblem(t *testing.T) {
	const hash = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	tests := []struct{ file, want string }{
		{"a merge", "line 1: want 3 fields (name, scopes, sha256:hash), got 2"},
		{"a merge,root " + hash, `line 1: scopes: unknown scope "root" (want merge, photo, erasure:file, erasure:approve, erasure:read, admin)`},
		{"a merge my-secret-token", "line 1: hash: want sha256: and 64 hex digits (a secret itself is never written here)"},
		{"# c\na merge " + hash + "\na photo " + hash, `token name "a" given twice`},
		{"a/b merge " + hash, `line 1: name "a/b": only letters, digits and -_.@`},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader(tt.file))
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q) = %v, want %q", tt.file, err, tt.want)
		}
	}
}
