package bigin_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/sim/biginsim"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/bigin"
)

// No client secret, refresh token or access token ever reaches a log line or
// an error string, whatever the failure.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	b := setup(t, biginsim.Options{MintLimit: 3})
	b.sim.AddRecord("Contacts", "1", true)
	var logs testutil.Buffer
	logger := zerolog.New(&logs).Level(zerolog.DebugLevel)
	withLog := func(c *bigin.Config) { c.Logger = &logger }
	ctx := context.Background()
	var got []string
	collect := func(err error) {
		if err != nil {
			got = append(got, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		}
	}

	good := b.client(t, withLog)
	collect(good.DeleteRecordPhoto(ctx, "Contacts", "1")) // mints a token
	for _, code := range []string{"INVALID_TOKEN", "INVALID_TOKEN", "OAUTH_SCOPE_MISMATCH", "NO_PERMISSION",
		"AUTHORIZATION_FAILED", "INTERNAL_ERROR", "TOO_MANY_REQUESTS"} {
		b.sim.FailNext(code, 1)
	}
	for range 6 {
		collect(good.DeleteRecordPhoto(ctx, "Contacts", "1"))
	}
	for range 4 { // past the mint limit: "Access Denied"
		b.sim.ExpireTokens()
		collect(good.DeleteRecordPhoto(ctx, "Contacts", "1"))
	}
	for _, edit := range []func(*bigin.Config){
		func(c *bigin.Config) { c.ClientSecret = "wrong-" + c.ClientSecret },
		func(c *bigin.Config) { c.RefreshToken = "wrong-" + c.RefreshToken },
		func(c *bigin.Config) { c.ClientID = "wrong-" + c.ClientID },
		func(c *bigin.Config) { c.AccountsURL = "http://127.0.0.1:1" }, // nothing listens
	} {
		b.mr.FlushAll()
		c := b.client(t, withLog, edit, func(c *bigin.Config) { c.Timeout = time.Second })
		collect(c.DeleteRecordPhoto(ctx, "Contacts", "1"))
	}
	if len(got) < 3*10 {
		t.Fatalf("only %d error strings collected; the scenarios did not fail as planned: %q", len(got), got)
	}

	o := b.sim.Options()
	secrets := append([]string{o.ClientSecret, o.RefreshToken}, b.sim.IssuedTokens()...)
	if len(secrets) < 3 {
		t.Fatal("no access token was minted")
	}
	haystack := strings.Join(got, "\n") + "\n" + logs.String()
	for _, s := range secrets {
		if strings.Contains(haystack, s) {
			t.Errorf("secret %.8s... appears in logs or errors", s)
		}
	}
	t.Logf("%d error strings and %d bytes of logs checked against %d secrets", len(got), len(logs.String()), len(secrets))
}
