// Package skeys names every storage path that lifecycle owns, as rkeys does
// for Redis keys. Keeping them in one file makes it possible to see at a
// glance what we keep in the bucket, to keep two areas from overlapping, and
// to find every reader and writer of a path by its function name.
//
// What is stored is persistent: a path, once written, keeps its shape, and a
// change here is a migration of every object already stored.
//
//	users/{userId}/...                          users' objects: what a sweep lists
//	users/{userId}/photos/{photoId}.{ext}       an Artifi photo
//	receipts/{requestId}.json                   signed erasure receipts
//	quarantine/{sweepId}/{original key}         what a sweep moved aside
//	sweeps/{sweepId}/report.json                a sweep's report
//	sweeps/{sweepId}/manifest/{part}.jsonl      a sweep's candidates, part by part
//	dead-letters/{queue}/{taskId}-{unix}.json   copies of dead-lettered tasks
//	audit/{yyyy}/{mm}/{dd}/{entryId}.json        the audit trail, one entry each
//
// Every folder ends with "/", so that users/1/ never matches users/10/ in a
// prefix listing. Ids are validated at every edge against the id grammar
// (tasks.IDGrammar) and embedded through seg, which leaves a valid id as it
// is and escapes anything that could reshape a path ('/', "..", control
// characters), so no id, task id or queue name reaches outside its folder. The functions that
// take a key apart (OwnerOf, PhotoID, ...) accept only what the matching
// builder makes and refuse any other shape.
package skeys

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

const (
	users       = "users/"
	receipts    = "receipts/"
	quarantine  = "quarantine/"
	sweeps      = "sweeps/"
	deadLetters = "dead-letters/"
	audit       = "audit/"
)

// --- users' objects ---
//
// tasks (the producer contract, which imports nothing of ours) states the
// users/{userId}/ layout on its own when it confines a storage photo delete
// to the user's folder; skeys_test checks that the two agree.

// Users is the folder of every user's objects, the only one a sweep lists:
// nothing outside it is ever swept.
func Users() string { return users }

// UserPrefix is the folder of one user id's objects: what an erasure deletes
// and then checks empty, and what a merge moves from the guest id to the
// registered one.
func UserPrefix(id string) string { return users + seg(id) + "/" }

// UserPhotos is the folder of a user's Artifi photos, each named
// {photoId}.{ext}, so that a sweep can ask Artifi whether it still lists them.
func UserPhotos(id string) string { return UserPrefix(id) + "photos/" }

// OwnerOf returns the user id whose folder holds key, or "" for a key in no
// user's folder (users/x, receipts/...): such a key is never swept, as we do
// not know whose it is.
func OwnerOf(key string) string {
	rest, ok := strings.CutPrefix(key, users)
	if !ok {
		return ""
	}
	id, _, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return id
}

// PhotoID returns the Artifi photo id of a key directly in UserPhotos (the
// name up to its first dot, not empty), and false for any other key.
func PhotoID(key string) (string, bool) {
	owner := OwnerOf(key)
	if owner == "" {
		return "", false
	}
	name, ok := strings.CutPrefix(key, UserPhotos(owner))
	if !ok || strings.Contains(name, "/") {
		return "", false
	}
	id, _, _ := strings.Cut(name, ".")
	return id, id != ""
}

// ChangeOwner returns the key that key, in user from's folder, has in user
// to's folder (the same path inside it), and false for a key outside from's
// folder. A merge moves a guest's objects this way.
func ChangeOwner(key, from, to string) (string, bool) {
	rest, ok := strings.CutPrefix(key, UserPrefix(from))
	if !ok {
		return "", false
	}
	return UserPrefix(to) + rest, true
}

// --- erasure receipts ---

// Receipt is where the signed receipt of erasure request requestID is kept:
// the proof that the request was honoured. It lies outside Users, so no
// sweep ever touches it.
func Receipt(requestID string) string { return receipts + seg(requestID) + ".json" }

// ErasureAudit is where an audit of erasure request requestID, made at at,
// is kept: in a folder beside its receipt, one file per audit, so that a
// later audit never overwrites the evidence of an earlier one. seg escapes
// '/', so no request id's receipt can fall into another's folder.
func ErasureAudit(requestID string, at time.Time) string {
	return receipts + seg(requestID) + ".audits/" + at.UTC().Format("20060102T150405.000000000Z") + ".json"
}

// --- asset sweeps ---

// QuarantinePrefix is the folder of what sweep sweepID quarantined: what
// a purge deletes once the restore window has passed.
func QuarantinePrefix(sweepID string) string { return quarantine + seg(sweepID) + "/" }

// Quarantined is where sweep sweepID moves key. The original key is kept
// whole, so that a quarantined object still says where it came from.
func Quarantined(sweepID, key string) string { return QuarantinePrefix(sweepID) + key }

// Unquarantined returns the original key of a Quarantined key of sweep
// sweepID, and false for any other key.
func Unquarantined(sweepID, key string) (string, bool) {
	orig, ok := strings.CutPrefix(key, QuarantinePrefix(sweepID))
	if !ok || orig == "" {
		return "", false
	}
	return orig, true
}

// Sweeps is the folder of every sweep's report and manifest, listed to find
// the reports.
func Sweeps() string { return sweeps }

// SweepReport is where sweep id's report is kept.
func SweepReport(id string) string { return sweeps + seg(id) + "/report.json" }

// SweepIDOfReport returns the sweep id of a SweepReport key, and false for
// any other key (a manifest part, or anything outside Sweeps).
func SweepIDOfReport(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, sweeps)
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, "/report.json")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}

// SweepIDOf returns the sweep id of any key in a sweep's folder (its report
// or a manifest part), and false for any other key.
func SweepIDOf(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, sweeps)
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, "/")
	if !ok || id == "" {
		return "", false
	}
	return id, true
}

// SweepManifest is the folder of sweep id's manifest parts.
func SweepManifest(id string) string { return sweeps + seg(id) + "/manifest/" }

// SweepManifestPart is where part of sweep id's manifest is kept. The part
// number is padded to six digits so that a listing yields the parts in order.
func SweepManifestPart(id string, part int) string {
	return fmt.Sprintf("%s%06d.jsonl", SweepManifest(id), part)
}

// ManifestPartOf returns the part number of a SweepManifestPart key of sweep
// id, and false for any other key.
func ManifestPartOf(id, key string) (int, bool) {
	name, ok := strings.CutPrefix(key, SweepManifest(id))
	if !ok {
		return 0, false
	}
	digits, ok := strings.CutSuffix(name, ".jsonl")
	if !ok {
		return 0, false
	}
	part, err := strconv.Atoi(digits)
	// Rebuilding the key refuses what Atoi would read but the builder never
	// writes: a sign, missing padding.
	if err != nil || part < 0 || SweepManifestPart(id, part) != key {
		return 0, false
	}
	return part, true
}

// --- dead letters ---

// DeadLetters is the folder of every dead letter's copy, listed whole by an
// erasure looking for the copies that name its subject.
func DeadLetters() string { return deadLetters }

// DeadLetter is where the copy of a dead-lettered task is kept. The time of
// the failure (unix seconds) is part of it, so that a task retried and
// dead-lettered anew gets a second copy instead of overwriting the first.
func DeadLetter(queue, taskID string, failedAt time.Time) string {
	return fmt.Sprintf("%s%s/%s-%d.json", deadLetters, seg(queue), seg(taskID), failedAt.Unix())
}

// --- audit trail ---

// AuditEntry is where audit entry id, recorded at at, is kept for good: by
// day, so that a day's entries are one prefix listing.
func AuditEntry(at time.Time, id string) string {
	return audit + at.UTC().Format("2006/01/02/") + seg(id) + ".json"
}
