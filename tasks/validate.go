package tasks

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxIDLen bounds opaque ids. They end up in Redis keys, storage paths, log
// lines and URL paths, so they stay short.
const MaxIDLen = 128

// The id grammar: every opaque id (user ids, guest ids, photo ids, request
// ids, sweep ids, who filed a request) is
//
//	[A-Za-z0-9][A-Za-z0-9._@-]{0,127}
//
// that is 1 to 128 bytes of ASCII letters, digits, '.', '_', '@' and '-',
// starting with a letter or a digit. The set is narrow on purpose: an id
// that passes cannot hold ':' (the separator of our Redis keys), '/' or '%'
// (storage paths and their escapes), a control character or a space, and it
// cannot be a path segment such as "." or "..", a hidden file name or a
// command-line flag. It is safe to embed in a Redis key, a storage path, a
// log line or a URL path without escaping, so no consumer has to get
// escaping right (rkeys and skeys escape anyway, should the grammar ever be
// widened).
const IDGrammar = "1-128 characters of A-Z a-z 0-9 . _ @ -, starting with a letter or digit"

// CheckID checks v against the id grammar, returning a *ValidationError
// naming field, or nil. An empty v is "required". The API and the CLI check
// the ids they are given with it, so that every edge speaks one grammar.
func CheckID(field, v string) error {
	var fe fieldErrors
	checkID(&fe, field, v, true)
	if len(fe) == 0 {
		return nil
	}
	return fe[0]
}

// checkID applies the id grammar (IDGrammar).
func checkID(fe *fieldErrors, field, v string, required bool) {
	switch {
	case v == "":
		if required {
			fe.add(field, "required")
		}
		return
	case len(v) > MaxIDLen:
		fe.add(field, fmt.Sprintf("too long (%d bytes, max %d)", len(v), MaxIDLen))
		return
	}
	for i, r := range v {
		if !isIDRune(r) {
			fe.add(field, fmt.Sprintf("invalid character %q at byte %d (allowed: A-Z a-z 0-9 . _ @ -)", r, i))
			return
		}
	}
	if !isAlnum(rune(v[0])) {
		fe.add(field, fmt.Sprintf("must start with a letter or digit, not %q", v[0]))
	}
}

func isAlnum(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
}

func isIDRune(r rune) bool {
	return isAlnum(r) || r == '.' || r == '_' || r == '@' || r == '-'
}

// checkEmpty rejects a field that means nothing for the chosen variant: a
// producer that fills it has probably confused two systems, and silently
// ignoring it would hide that.
func checkEmpty(fe *fieldErrors, field, v, why string) {
	if v != "" {
		fe.add(field, "must be empty "+why)
	}
}

// checkOneOf requires v to be one of want, listed in the error in want's
// order so the message doubles as documentation.
func checkOneOf(fe *fieldErrors, field, v string, want []string) bool {
	if v == "" {
		fe.add(field, "required")
		return false
	}
	for _, w := range want {
		if v == w {
			return true
		}
	}
	fe.add(field, fmt.Sprintf("unknown %q (want %s)", v, strings.Join(want, ", ")))
	return false
}

// checkText is for names we do not control the shape of (an IBM BPM user
// name): any printable UTF-8, but no control characters, no surrounding
// spaces, no slashes and not "." or "..", because the value becomes one URL
// path segment.
func checkText(fe *fieldErrors, field, v string, max int) {
	switch {
	case v == "":
		fe.add(field, "required")
		return
	case len(v) > max:
		fe.add(field, fmt.Sprintf("too long (%d bytes, max %d)", len(v), max))
		return
	case !utf8.ValidString(v):
		fe.add(field, "not valid UTF-8")
		return
	case strings.TrimSpace(v) != v:
		fe.add(field, "leading or trailing space")
		return
	case v == "." || v == "..":
		fe.add(field, fmt.Sprintf("must not be %q (a path segment)", v))
		return
	}
	for i, r := range v {
		if unicode.IsControl(r) || r == '/' || r == '\\' {
			fe.add(field, fmt.Sprintf("invalid character %q at byte %d", r, i))
			return
		}
	}
}
