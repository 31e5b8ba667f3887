// Package bigin deletes and inspects record photos in Zoho Bigin (API v2):
// DELETE and GET {api-domain}/bigin/v2/{Contacts|Accounts|Products}/{id}/photo.
//
// # Access tokens
//
// A Zoho refresh token may mint only 10 access tokens per 10 minutes, so the
// access token is cached in Redis (rkeys.ZohoToken) and shared by every
// worker process; one process at a time refreshes it, under a lock
// (rkeys.ZohoTokenLock), while the others poll Redis for the new token. Each
// process also keeps the token in memory until the Redis copy would expire.
// When Bigin answers INVALID_TOKEN, the client deletes the cached token only
// if it is still the one that failed (compare-and-delete), then fetches a
// token and resends once: N processes that meet the same expired token cause
// one refresh, not N.
//
// # Errors
//
// Every failure is a *Error (or a transport error), classified with errclass:
//
//	answer                          HTTP  class        sentinel                 why
//	SUCCESS                         200   (nil)
//	no body (DELETE or GET)         204   AlreadyGone  ErrNoPhoto               the record has no photo: nothing to delete
//	INVALID_DATA                    400   AlreadyGone  ErrInvalidData           see below
//	INVALID_MODULE                  400   Permanent    ErrInvalidModule         our request is wrong; retrying repeats it
//	INVALID_URL_PATTERN             404   Permanent    ErrInvalidURLPattern     our request is wrong
//	INVALID_REQUEST_METHOD          400   Permanent    ErrInvalidRequestMethod  our request is wrong
//	OAUTH_SCOPE_MISMATCH            401   Permanent    ErrScopeMismatch         the OAuth client lacks the DELETE scope
//	NO_PERMISSION                   403   Permanent    ErrNoPermission          the Zoho user may not delete images
//	AUTHORIZATION_FAILED            400   Permanent    ErrAuthorizationFailed   same, as Bigin also words it
//	INVALID_TOKEN                   401   refresh once and resend; if the fresh token fails too: Retry, ErrInvalidToken
//	TOO_MANY_REQUESTS               429   Throttled    ErrTooManyRequests       delay from Retry-After or details.retry_after
//	INTERNAL_ERROR                  500   Retry        ErrInternal              Bigin's own failure
//	any other code or no JSON body        by HTTP status: 429 Throttled, 5xx/408 Retry, other 4xx Permanent
//	token endpoint: error field     200   Permanent    ErrTokenRefused          invalid_client, invalid_code...: misconfigured credentials
//	token endpoint: "Access Denied" 200   Throttled    ErrTokenRateLimited      10 tokens per 10 minutes exceeded; wait a minute
//
// INVALID_DATA ("the id given seems to be invalid") is what Bigin answers for
// a record id that does not name a record. The client rejects malformed ids (anything
// but digits) before calling, as Permanent ErrInvalidData, so an INVALID_DATA
// from Bigin is about a well-formed id of a record that is not there: in our
// use, nearly always a record deleted between the request being queued and
// run. No record means no photo, which is what the erasure wants, so it is
// AlreadyGone; the *Error keeps the code, so the outcome log still says
// INVALID_DATA if a producer ever sends a wrong but well-formed id.
// HasRecordPhoto answers (false, nil) in that case for the same reason.
//
// Bigin's documentation does not say what DELETE answers for a record that
// has no photo; GET answers 204, and this client reads a 204 to DELETE the
// same way (AlreadyGone, ErrNoPhoto). The simulator answers 204 too.
package bigin
