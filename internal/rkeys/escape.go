package rkeys

import "github.com/lifecycle-worker/lifecycle/internal/keyesc"

// id makes an id one part of a key whatever it holds. Ids that pass the id
// grammar (tasks.IDGrammar) come out unchanged, so the keys already in Redis
// keep their names; anything else that could make two keys alike is escaped
// as %XX: ':' (our separator), '%', whitespace, control and non-ASCII bytes.
// With it, request "X:steps" could never write into request X's checkpoint
// hash, even were the grammar widened.
func id(s string) string {
	if s == "" {
		return "%" // a lone '%' is no escape, so nothing else gives it
	}
	return keyesc.Escape(s, func(c byte) bool { return c == ':' || c == '%' || c <= ' ' || c >= 0x7f })
}
