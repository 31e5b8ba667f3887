// Package artifi is the client of the Artifi product-customization API, for
// the calls the lifecycle worker needs: delete a user's photos (v3 and v4),
// list them, delete a user's designs, and move a guest's data to their
// registered id (UpdateUserId).
//
// # Credentials
//
// Artifi authenticates with a websiteId (int) and a webApiClientKey
// (string). v3 takes them in the query string, v4 as request headers. The key
// is never logged and never appears in an error string: transport errors,
// whose URL holds it for v3, are rewritten, and any echo of it in Artifi's
// own messages is replaced with REDACTED. Redirects are not followed, since
// they would carry the credentials to another address.
//
// # Answers
//
// Artifi answers with an envelope {"Response","Message","Data","ErrorCode"},
// usually with HTTP 200 even for errors. It comes in several dialects, all
// read the same way: keys in PascalCase or camelCase; ErrorCode as "", null,
// a string ("227") or a number (227). ASP.NET model validation may answer
// instead with ProblemDetails ({"type","title","status":400,"errors":{...}}):
// that is a Permanent ErrValidation naming the fields listed in "errors"
// (their values are not repeated). A body that is not JSON (a proxy's HTML
// error page) or JSON of no known shape is classified by its HTTP status with
// upstream.ClassifyStatus; with a 2xx status it is retried.
//
// # Error mapping
//
// Codes mean different things on different endpoints, so the mapping is on
// (endpoint, code). Every error is an *Error; the sentinel matches it with
// errors.Is; the class is what errclass.Of returns.
//
//	endpoint                code      sentinel             class        why
//	DeleteUserPhoto v3/v4   327       ErrInvalidPhotoID    AlreadyGone  the photo is not there: deleted already (perhaps by our own earlier attempt whose answer was lost)
//	DeleteUserPhoto v3/v4   227, 261  ErrInvalidUserID     AlreadyGone  Artifi knows users only through their data; a user it does not know has no photo left to delete
//	GetUserUploadedList     227, 261  ErrInvalidUserID     AlreadyGone  same; AllUserPhotoIDs returns an empty list, nil
//	DeleteDesignsbyUserId   227, 261  ErrInvalidUserID     AlreadyGone  no such user, so no designs
//	UpdateUserId            232       ErrInvalidOldUserID  AlreadyGone  the guest id is gone: merged already (a retry after a lost answer) or never had data; not idempotent, so the merge (internal/merge) verifies the new user
//	UpdateUserId            227, 261  ErrInvalidUserID     Permanent    the id in question is the new one we send; a bad id of ours stays bad
//	any                     221, 372  ErrInvalidWebsite    Permanent    websiteId wrong or missing: configuration
//	any                     226       ErrInvalidClientKey  Permanent    webApiClientKey missing or wrong: configuration
//	any                     500       ErrServer            Retry        Artifi failed; Retry-After honoured if sent
//	any                     other     ErrUnexpected        Retry on 2xx, else by HTTP status (errclass: unknown failures are retried, within the task's retry budget)
//	any                     ProblemDetails  ErrValidation  Permanent (Retry if its status is 5xx)
//	any                     HTTP 429  ErrUnexpected        Throttled, with Retry-After, whatever the body
//	any                     HTTP 3xx  ErrUnexpected        Permanent    redirects are not followed: BaseURL is wrong
//	any                     non-JSON  ErrUnexpected        by HTTP status: 5xx and 408 Retry, other 4xx Permanent, 2xx Retry
//	transport error         -         -                    Retry (upstream.ClassifyTransport); the caller's own cancellation is returned as ctx.Err()
//	empty userId/photoId    -         -                    Permanent, before any call
//
// # Paging
//
// GetUserUploadedList is read with a 1-based pageIndex (the simulator agrees).
// AllUserPhotoIDs reads pages until it has AssetCount distinct ids; if the
// pages run out first it returns a retryable error instead of a short list,
// so that an erasure never takes a partial listing for a complete one (this
// also catches a 0-based server, whose first page would have been skipped).
//
// # Concurrency
//
// Every call holds a slot of Config.Limiter (the Redis semaphore shared by
// every worker process) for its whole duration; AllUserPhotoIDs takes one per
// page.
package artifi
