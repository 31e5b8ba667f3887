package skeys

import "github.com/lifecycle-worker/lifecycle/internal/keyesc"

// seg makes an id one path segment whatever it holds. Ids that pass the id
// grammar (tasks.IDGrammar) come out unchanged, so the layout of what is
// stored does not depend on it; anything else that could reshape a path is
// escaped as %XX: '/', '\', '%', control and non-ASCII bytes, and a segment
// that is empty, "." or "..". Task ids and queue names, which producers
// choose freely, go through it too: a dead letter whose task id is
// "x/../../y" is kept under "x%2F..%2F..%2Fy".
func seg(id string) string {
	switch id {
	case "":
		return "%" // a lone '%' is no escape, so nothing else gives it
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return keyesc.Escape(id, func(c byte) bool { return c == '/' || c == '\\' || c == '%' || c < 0x20 || c >= 0x7f })
}
