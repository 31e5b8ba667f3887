// Package apitoken reads the API's scoped tokens. A tokens file holds, per
// line, a token's name, its scopes and the SHA-256 of its secret, never the
// secret itself:
//
//	# name        scopes                          hash of the secret
//	checkout      merge,photo                     sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	privacy-alice erasure:file,erasure:read       sha256:...
//
// Blank lines and lines starting with # are ignored; fields are separated
// by spaces or tabs. `lifecycle token new` prints a secret once and its line.
//
// SHA-256, not a password hash (bcrypt, argon2): the secrets are 32 random
// bytes made by New, not chosen by people, so there is nothing to guess
// from a stolen file and a slow hash would only slow every request. Lookup
// compares the hash of what a caller sent with every token's hash in
// constant time, going through all of them, so the time of an answer tells
// nothing about which token came close.
package apitoken

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Scope is a permission a token grants.
type Scope string

const (
	ScopeMerge          Scope = "merge"
	ScopePhoto          Scope = "photo"
	ScopeErasureFile    Scope = "erasure:file"
	ScopeErasureApprove Scope = "erasure:approve"
	ScopeErasureRead    Scope = "erasure:read"
	ScopeAdmin          Scope = "admin"
)

// Scopes lists every scope, in the order the documentation gives them.
func Scopes() []Scope {
	return []Scope{ScopeMerge, ScopePhoto, ScopeErasureFile, ScopeErasureApprove, ScopeErasureRead, ScopeAdmin}
}

// Token is one caller the API knows.
type Token struct {
	Name   string
	Scopes []Scope
	Hash   [sha256.Size]byte
}

// Has reports whether t grants s.
func (t Token) Has(s Scope) bool { return slices.Contains(t.Scopes, s) }

// Line is t as a line of a tokens file.
func (t Token) Line() string {
	ss := make([]string, len(t.Scopes))
	for i, s := range t.Scopes {
		ss[i] = string(s)
	}
	return fmt.Sprintf("%s\t%s\tsha256:%s", t.Name, strings.Join(ss, ","), hex.EncodeToString(t.Hash[:]))
}

// secretPrefix marks our secrets, so that a secret scanner (and a person)
// can tell what leaked.
const secretPrefix = "lct_"

// New makes a token named name with scopes and returns it with its secret,
// which is shown once and kept nowhere.
func New(name string, scopes []Scope) (Token, string, error) {
	if err := checkName(name); err != nil {
		return Token{}, "", err
	}
	if err := checkScopes(scopes); err != nil {
		return Token{}, "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Token{}, "", err
	}
	secret := secretPrefix + base64.RawURLEncoding.EncodeToString(b)
	return Token{Name: name, Scopes: scopes, Hash: sha256.Sum256([]byte(secret))}, secret, nil
}

// Set is the tokens a server accepts.
type Set struct{ tokens []Token }

// NewSet returns a set of tokens; a name given twice is an error, since the
// audit trail would not tell the two apart.
func NewSet(tokens ...Token) (*Set, error) {
	seen := map[string]bool{}
	for _, t := range tokens {
		if seen[t.Name] {
			return nil, fmt.Errorf("token name %q given twice", t.Name)
		}
		seen[t.Name] = true
	}
	return &Set{tokens: tokens}, nil
}

// Len is how many tokens s holds.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.tokens)
}

// Lookup returns the token whose secret is secret.
func (s *Set) Lookup(secret string) (Token, bool) {
	if s == nil || secret == "" {
		return Token{}, false
	}
	sum := sha256.Sum256([]byte(secret))
	found := -1
	for i := range s.tokens {
		if subtle.ConstantTimeCompare(sum[:], s.tokens[i].Hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Token{}, false
	}
	return s.tokens[found], true
}

// ByName returns the token named name: a console session, which keeps a
// token's name and hash, checks with it that the token is still valid.
func (s *Set) ByName(name string) (Token, bool) {
	if s == nil {
		return Token{}, false
	}
	for _, t := range s.tokens {
		if t.Name == name {
			return t, true
		}
	}
	return Token{}, false
}

// ReadFile reads a tokens file.
func ReadFile(path string) ([]Token, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f)
}

// Parse reads the lines of a tokens file; an error names the line.
func Parse(r io.Reader) ([]Token, error) {
	var out []Token
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		t, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if _, err := NewSet(out...); err != nil {
		return nil, err
	}
	return out, nil
}

func parseLine(line string) (Token, error) {
	f := strings.Fields(line)
	if len(f) != 3 {
		return Token{}, fmt.Errorf("want 3 fields (name, scopes, sha256:hash), got %d", len(f))
	}
	if err := checkName(f[0]); err != nil {
		return Token{}, err
	}
	var scopes []Scope
	for s := range strings.SplitSeq(f[1], ",") {
		scopes = append(scopes, Scope(s))
	}
	if err := checkScopes(scopes); err != nil {
		return Token{}, err
	}
	h, ok := strings.CutPrefix(f[2], "sha256:")
	b, err := hex.DecodeString(h)
	if !ok || err != nil || len(b) != sha256.Size {
		return Token{}, fmt.Errorf("hash: want sha256: and 64 hex digits (a secret itself is never written here)")
	}
	t := Token{Name: f[0], Scopes: scopes}
	copy(t.Hash[:], b)
	return t, nil
}

// checkName keeps names short and plain: they go into the audit trail and
// logs.
func checkName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("name: want 1 to 64 characters, got %d", len(name))
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.@", r)) {
			return fmt.Errorf("name %q: only letters, digits and -_.@", name)
		}
	}
	return nil
}

func checkScopes(scopes []Scope) error {
	if len(scopes) == 0 {
		return fmt.Errorf("scopes: at least one of %s", scopeList())
	}
	for _, s := range scopes {
		if !slices.Contains(Scopes(), s) {
			return fmt.Errorf("scopes: unknown scope %q (want %s)", s, scopeList())
		}
	}
	return nil
}

func scopeList() string {
	ss := make([]string, 0, 6)
	for _, s := range Scopes() {
		ss = append(ss, string(s))
	}
	return strings.Join(ss, ", ")
}

// ParseScopes reads "merge,photo".
func ParseScopes(v string) ([]Scope, error) {
	var out []Scope
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, Scope(s))
		}
	}
	return out, checkScopes(out)
}
