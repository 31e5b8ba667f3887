package artifi

import (
	"embed"
	"fmt"
)

// The answers Artifi's documentation shows (testdata/seeds), byte for byte
// except for the page extraction's artifacts (blank lines between JSON lines,
// non-breaking spaces for spaces). They are the contract: the simulator
// serves them as they are and the contract tests decode them with this
// client, so both sides are held to what Artifi documents.
//
//go:embed testdata/*.json
var bodies embed.FS

// Names of the documented bodies.
const (
	BodyDeletePhotoV3Success = "delete_user_photo_v3_success.json"
	BodyDeletePhotoV3Err227  = "delete_user_photo_v3_error_227.json"
	BodyDeletePhotoV4Success = "delete_user_photo_v4_success.json"
	BodyDeletePhotoV4Err327  = "delete_user_photo_v4_error_327.json"
	BodyUpdateUserIDSuccess  = "update_user_id_success.json"
	BodyUpdateUserIDErr232   = "update_user_id_error_232.json"
)

// DocumentedBody returns the documented body called name (one of the Body
// constants). It panics on an unknown name: that is a bug in the caller.
func DocumentedBody(name string) []byte {
	b, err := bodies.ReadFile("testdata/" + name)
	if err != nil {
		panic(fmt.Sprintf("artifi: no documented body %q", name))
	}
	return b
}
