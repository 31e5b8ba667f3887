package main

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

// maxReasonLen bounds an extension's reason: a sentence or two that the
// person is told.
const maxReasonLen = 500

// checkIDArg checks an id given on the command line against the id grammar
// that every edge uses (tasks.IDGrammar), naming the flag or argument.
func checkIDArg(name, v string) error {
	err := tasks.CheckID(name, v)
	var ve *tasks.ValidationError
	if errors.As(err, &ve) {
		return &usageError{fmt.Sprintf("%s: %s (an id is %s)", name, ve.Problem, tasks.IDGrammar)}
	}
	return nil
}

// checkText refuses free text that is not one printable line of at most max
// bytes: control characters (terminal escape codes, newlines) and invisible
// formatting characters would reach every terminal and log that shows it.
// The message quotes the character, never echoes it.
func checkText(name, v string, max int) error {
	switch {
	case len(v) > max:
		return &usageError{fmt.Sprintf("%s: too long (%d bytes, max %d)", name, len(v), max)}
	case !utf8.ValidString(v):
		return &usageError{name + ": not valid UTF-8"}
	}
	if i := strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(v[i:])
		return &usageError{fmt.Sprintf("%s: invalid character %q at byte %d (one printable line)", name, r, i)}
	}
	return nil
}
