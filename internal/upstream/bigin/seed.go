package bigin

import (
	"embed"
	"fmt"
)

// seedBodies are the response bodies of testdata/ (see its README): the
// simulator serves them and the contract tests compare against them, so
// that both agree with the seed documentation byte for byte.
//
//go:embed testdata/*.json
var seedBodies embed.FS

// SeedBody returns the bytes of testdata/<name>, e.g.
// "delete_photo_success.json" or "error_INVALID_DATA.json". It panics on an
// unknown name: the set is fixed at build time.
func SeedBody(name string) []byte {
	b, err := seedBodies.ReadFile("testdata/" + name)
	if err != nil {
		panic(fmt.Sprintf("bigin: no seed body %q", name))
	}
	return b
}
