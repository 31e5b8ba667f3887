// Package keyesc escapes ids into parts of the keys we own (Redis keys in
// rkeys, storage paths in skeys), so that no id, whatever it holds, can name
// another key.
package keyesc

import "strings"

const hex = "0123456789ABCDEF"

// Escape writes each byte of s that reserved names, and each non-ASCII
// byte, as %XX; s comes back unchanged when it has none, so ids that pass
// the id grammar (tasks.IDGrammar) keep the keys they always had. reserved
// must name '%' so that an escape cannot be forged.
func Escape(s string, reserved func(c byte) bool) string {
	i := 0
	for i < len(s) && !reserved(s[i]) && s[i] < 0x80 {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if reserved(c) || c >= 0x80 {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
