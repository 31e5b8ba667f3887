package tasks

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hibiken/asynq"
)

// TypePhotoDelete deletes one photo in one upstream system. Never rename it in
// place (see the package doc).
const TypePhotoDelete = "photo:delete"

// The systems a photo can live in: the values of PhotoDeletePayload.System.
const (
	SystemArtifiV3 = "artifi-v3" // Artifi API v3: UploadImage/DeleteUserPhoto, keys in the query
	SystemArtifiV4 = "artifi-v4" // Artifi API v4: UploadImage/DeleteUserPhoto, keys in headers
	SystemBigin    = "bigin"     // Zoho Bigin: DELETE /bigin/v2/{module}/{record_id}/photo
	SystemIBMBPM   = "ibmbpm"    // IBM BPM: DELETE /rest/bpm/wle/v1/avatar/{user}
	SystemStorage  = "storage"   // our object storage: one key under users/{user_id}/
)

// The Bigin modules that have record photos: the values of
// PhotoDeletePayload.Module. Zoho's module API names are case-sensitive.
const (
	BiginContacts = "Contacts"
	BiginAccounts = "Accounts"
	BiginProducts = "Products"
)

var (
	photoSystems = []string{SystemArtifiV3, SystemArtifiV4, SystemBigin, SystemIBMBPM, SystemStorage}
	biginModules = []string{BiginContacts, BiginAccounts, BiginProducts}
)

// photoDeleteSpec holds every decision about photo:delete.
var photoDeleteSpec = spec{typ: TypePhotoDelete, Policy: Policy{
	Queue: QueuePhoto,
	// A deletion is owed to the user, so it outlasts long upstream outages:
	// with the default backoff, 20 retries span about 45 hours (at least 22
	// with the most jitter) before the task is archived for a person to look
	// at. More would only delay that alert; fewer would archive work during a
	// routine outage.
	MaxRetry: 20,
	Backoff:  backoffDefault,
	// One delete is one upstream call, plus perhaps a token refresh and a
	// wait for a concurrency slot. Two minutes covers that with room; a call
	// hung longer is better abandoned and retried than held for asynq's 30
	// minute default, which would also tie up a worker slot.
	Timeout: 2 * time.Minute,
	// The dedup window after success: a producer retry arrives within minutes
	// to hours. A day covers that, and completed tasks cost Redis memory for
	// as long as they are kept.
	Retention: 24 * time.Hour,
}}

// PhotoDeletePayload names one photo in one system. Which fields apply depends
// on System; the others must be empty:
//
//	artifi-v3, artifi-v4  photo_id (the Artifi photo id; user_id is the Artifi user)
//	bigin                 module (Contacts, Accounts or Products) and record_id
//	ibmbpm                user (the BPM user name or id whose avatar to reset)
//	storage               key, an object key under "users/{user_id}/"
type PhotoDeletePayload struct {
	System string `json:"system"`
	// UserID is our opaque id of the user whose photo this is, required for
	// every system: the worker logs and audits deletions per user.
	UserID string `json:"user_id"`
	// RequestID is the producer's own reference for this request (optional).
	// It is part of the task id: see TaskID.
	RequestID string `json:"request_id,omitempty"`

	PhotoID  string `json:"photo_id,omitempty"`
	Module   string `json:"module,omitempty"`
	RecordID string `json:"record_id,omitempty"`
	User     string `json:"user,omitempty"`
	Key      string `json:"key,omitempty"`
}

// maxBPMUserLen and maxStorageKeyLen bound free-form fields: BPM user names are
// short, and 1024 bytes is S3's own limit for a key.
const (
	maxBPMUserLen    = 256
	maxStorageKeyLen = 1024
	maxRecordIDLen   = 32
)

// Validate reports every problem with p, each as a *ValidationError naming
// the field.
func (p PhotoDeletePayload) Validate() error {
	var fe fieldErrors
	known := checkOneOf(&fe, "system", p.System, photoSystems)
	checkID(&fe, "user_id", p.UserID, true)
	checkID(&fe, "request_id", p.RequestID, false)
	if !known {
		// Which other fields apply is unknowable; more errors would be noise.
		return fe.err()
	}
	why := fmt.Sprintf("for system %s", p.System)
	switch p.System {
	case SystemArtifiV3, SystemArtifiV4:
		checkID(&fe, "photo_id", p.PhotoID, true)
	default:
		checkEmpty(&fe, "photo_id", p.PhotoID, why)
	}
	if p.System == SystemBigin {
		checkOneOf(&fe, "module", p.Module, biginModules)
		checkRecordID(&fe, p.RecordID)
	} else {
		checkEmpty(&fe, "module", p.Module, why)
		checkEmpty(&fe, "record_id", p.RecordID, why)
	}
	if p.System == SystemIBMBPM {
		checkText(&fe, "user", p.User, maxBPMUserLen)
	} else {
		checkEmpty(&fe, "user", p.User, why)
	}
	if p.System == SystemStorage {
		checkStorageKey(&fe, p.Key, p.UserID)
	} else {
		checkEmpty(&fe, "key", p.Key, why)
	}
	return fe.err()
}

// checkRecordID: Zoho record ids are decimal numbers (int64 in their API).
// Requiring digits keeps the value from reshaping the URL path it goes into.
func checkRecordID(fe *fieldErrors, v string) {
	switch {
	case v == "":
		fe.add("record_id", "required")
	case len(v) > maxRecordIDLen:
		fe.add("record_id", fmt.Sprintf("too long (%d bytes, max %d)", len(v), maxRecordIDLen))
	case strings.Trim(v, "0123456789") != "":
		fe.add("record_id", fmt.Sprintf("must be a decimal number, got %q", v))
	}
}

// storageTmpPrefix is the name prefix the file store keeps for its files
// being written (internal/storage, which this package cannot import): a key
// with such a segment is one the store refuses, so it is refused here, at
// the edge, rather than dead-lettered by the worker.
const storageTmpPrefix = ".lifecycle-tmp-"

// checkStorageKey confines a key to the user's own folder. The worker deletes
// whatever key it is given, so this check is what stops one user's request
// (or a producer bug) from deleting another user's objects: the prefix must
// be the payload's own user_id, and nothing in the key may climb out of it
// or be read differently by another S3 implementation or a file system.
func checkStorageKey(fe *fieldErrors, key, userID string) {
	const field = "key"
	switch {
	case key == "":
		fe.add(field, "required")
		return
	case len(key) > maxStorageKeyLen:
		fe.add(field, fmt.Sprintf("too long (%d bytes, max %d)", len(key), maxStorageKeyLen))
		return
	case !utf8.ValidString(key):
		fe.add(field, "not valid UTF-8")
		return
	case strings.HasPrefix(key, "/"):
		fe.add(field, "must not start with /")
		return
	}
	for i, r := range key {
		if r == '\\' || unicode.IsControl(r) { // control includes NUL
			fe.add(field, fmt.Sprintf("invalid character %q at byte %d", r, i))
			return
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "..", ".":
			fe.add(field, fmt.Sprintf("must not contain a %q segment", seg))
			return
		case "":
			fe.add(field, "must not contain an empty segment (// or a trailing /)")
			return
		}
		if strings.HasPrefix(seg, storageTmpPrefix) {
			fe.add(field, fmt.Sprintf("must not contain a segment starting %q (reserved for the store's own files)", storageTmpPrefix))
			return
		}
	}
	var idProblem fieldErrors
	checkID(&idProblem, "user_id", userID, true)
	if len(idProblem) > 0 {
		// user_id is reported on its own; a prefix built from it means nothing.
		return
	}
	prefix := "users/" + userID + "/"
	if !strings.HasPrefix(key, prefix) {
		fe.add(field, fmt.Sprintf("must be under %q (the payload's user_id)", prefix))
	}
}

// TaskID is the deduplication id of p: a hash of the whole payload, request_id
// included. The same request sent twice (a checkout retry, a double click)
// is one task; two requests with different request ids are two tasks even for
// the same photo. That is deliberate: an avatar or a storage key can be
// re-uploaded and must be deletable again within the dedup window, and a
// repeated delete only costs an idempotent upstream call. Producers that retry
// must therefore reuse the request_id of the first attempt.
func (p PhotoDeletePayload) TaskID() string {
	return taskID(TypePhotoDelete, p.System, p.UserID, p.RequestID, p.PhotoID, p.Module, p.RecordID, p.User, p.Key)
}

// NewPhotoDeleteTask validates p and builds the task with photo:delete's
// queue, retries, timeout, retention and task id. opts come after those and
// override them; overriding Queue or TaskID gives up deduplication.
func NewPhotoDeleteTask(p PhotoDeletePayload, opts ...asynq.Option) (*asynq.Task, error) {
	if err := p.Validate(); err != nil {
		return nil, invalid(TypePhotoDelete, err)
	}
	return newTask(photoDeleteSpec, p.TaskID(), p, opts)
}
