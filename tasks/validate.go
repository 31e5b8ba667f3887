package tasks

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxIDLen bounds opaque ids. They end up in Redis keys, log lines and URL
// paths, so they stay short.
const maxIDLen = 128

// checkID applies the rule for opaque ids (user ids, photo ids, request ids):
// 1..128 characters from [A-Za-z0-9._:@-]. The set is narrow on purpose: an
// id that passes is safe to embed in a Redis key, a log line or a URL path
// without escaping, so no consumer has to get escaping right.
func checkID(fe *fieldErrors, field, v string, required bool) {
	switch {
	case v == "":
		if required {
			fe.add(field, "required")
		}
		return
	case len(v) > maxIDLen:
		fe.add(field, fmt.Sprintf("too long (%d bytes, max %d)", len(v), maxIDLen))
		return
	}
	for i, r := range v {
		if !isIDRune(r) {
			fe.add(field, fmt.Sprintf("invalid character %q at byte %d (allowed: A-Z a-z 0-9 . _ : @ -)", r, i))
			return
		}
	}
}

func isIDRune(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	}
	return strings.ContainsRune("._:@-", r)
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
// spaces, and no slashes, because the value becomes one URL path segment.
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
	}
	for i, r := range v {
		if unicode.IsControl(r) || r == '/' || r == '\\' {
			fe.add(field, fmt.Sprintf("invalid character %q at byte %d", r, i))
			return
		}
	}
}
