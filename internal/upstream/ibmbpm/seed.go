package ibmbpm

import (
	"embed"
	"fmt"
)

// seedBodies are the bodies of testdata/ (see its README): the simulator
// serves them and the contract tests compare against them.
//
//go:embed testdata/*.json testdata/*.xml testdata/*.txt
var seedBodies embed.FS

// SeedBody returns the bytes of testdata/<name>, e.g. "avatar.json". It
// panics on an unknown name: the set is fixed at build time.
func SeedBody(name string) []byte {
	b, err := seedBodies.ReadFile("testdata/" + name)
	if err != nil {
		panic(fmt.Sprintf("ibmbpm: no seed body %q", name))
	}
	return b
}
