// Package ibmbpm resets user avatars in IBM BPM / Business Automation
// Workflow: DELETE /rest/bpm/wle/v1/avatar/{userNameOrID}, with HTTP Basic
// auth and a BPMCSRFToken obtained from POST /bpm/system/login.
//
// # CSRF token
//
// The token is fetched on the first call and kept in the process (it is tied
// to the user, not to a Zoho-style mint budget, so there is nothing to gain
// from sharing it across processes). When BPM answers 403 CWTBG0651E (token
// stale or missing), the client logs in again, once for all the goroutines
// that met the same stale token, and resends once.
//
// # "Already gone"
//
// DELETE resets the avatar to the default and answers 200 with the default
// avatar whether or not there was a custom one, so its answer cannot say
// "nothing to delete". DeleteAvatar therefore reads the avatar first (GET):
// already default means AlreadyGone and no DELETE is sent; otherwise it
// deletes. The extra GET costs one call per erasure, which are rare, and it
// makes a retry after a lost reply report "already gone" instead of deleting
// again. The check and the delete are not atomic, but an avatar uploaded
// between them is indistinguishable from one uploaded just after the DELETE:
// either way it is newer than the erasure request.
//
// # Errors
//
// Every failure is a *Error (or a transport error), classified with errclass:
//
//	answer                       class        sentinel           why
//	200, avatar already default  AlreadyGone  ErrAlreadyDefault  nothing to delete (from the GET)
//	401                          Permanent    ErrUnauthorized    wrong user name or password
//	403 CWTBG0651E               log in again and resend once; if it recurs: Retry, ErrStaleCSRF
//	403 other                    Permanent    ErrForbidden       the user may not manage avatars
//	404                          AlreadyGone  ErrUserNotFound    no such user, hence no avatar to delete
//	406                          Permanent    ErrNotAcceptable   our Accept or encoding is refused
//	409                          Retry        ErrConflict        a concurrent change; trying later works
//	500, 503, 504                Retry        (status)           BPM's own failure; 503 honours Retry-After
//	501                          Permanent    ErrNotImplemented  this BPM lacks the API; no retry adds it
//	other                        by status: 429 Throttled, 5xx/408 Retry, other 4xx Permanent
//
// A 404 is read as "user unknown": the avatar API has no other resource to
// miss, and a user deleted from BPM since the request was queued is the
// common case. AvatarIsDefault answers (true, nil) for such a user.
//
// The WLE error body (status, exceptionType, errorNumber, errorMessage,
// errorMessageParameters, programmersDetails) is read at the top level or
// under "Data" or "data", as BPM versions differ. Its message is kept in
// *Error with the password and the CSRF token blanked out, should BPM ever
// echo them.
package ibmbpm
