package rkeys

import "strings"

// id makes an id one part of a key whatever it holds. Ids that pass the id
// grammar (tasks.IDGrammar) come out unchanged, so the keys already in Redis
// keep their names; anything else that could make two keys alike is escaped
// as %XX: ':' (our separator), '%', whitespace, control and non-ASCII bytes.
// With it, request "X:steps" could never write into request X's checkpoint
// hash, even were the grammar widened.
func id(s string) string {
	if s != "" && !strings.ContainsFunc(s, needsEscape) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if needsEscape(rune(c)) || c >= 0x80 {
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&15])
			continue
		}
		b.WriteByte(c)
	}
	if b.Len() == 0 {
		return "%" // a lone '%' is no escape, so nothing else gives it
	}
	return b.String()
}

func needsEscape(r rune) bool {
	return r == ':' || r == '%' || r <= ' ' || r >= 0x7f
}
