package sim

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/sim/artifisim"
	"github.com/lifecycle-worker/lifecycle/internal/sim/biginsim"
	"github.com/lifecycle-worker/lifecycle/internal/sim/bpmsim"
	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/sim/simserver"
)

// Options configures Start. The zero value starts all three on free ports
// with demo data and no faults.
type Options struct {
	// Listen addresses; "" means 127.0.0.1 on a free port. They must be
	// loopback: the simulators accept well-known test credentials.
	ArtifiAddr, BiginAddr, BPMAddr string

	// Faults applies to every simulator at start; change one at run time
	// with Set.Artifi.Faults().Set (or PUT /_sim/faults).
	Faults faults.Config

	BiginTokenLifetime time.Duration // default biginsim.TokenLifetimeDefault (1 h)
	BPMCSRFLifetime    time.Duration // default bpmsim.CSRFLifetimeDefault (2 h)

	NoDemoData bool // start empty
}

// Credentials are what the clients must be configured with for the
// simulators of a Set. They are test values, never real ones.
type Credentials struct {
	ArtifiWebsiteID int
	ArtifiClientKey string

	BiginClientID, BiginClientSecret, BiginRefreshToken string

	BPMUsername, BPMPassword string
}

// Demo lists the demo data a Set was seeded with, so that a caller can
// enqueue work that finds something to delete.
type Demo struct {
	ArtifiUsers  []string            // registered users, each with photos and designs
	ArtifiPhotos map[string][]string // user id -> photo ids
	ArtifiGuest  string              // a guest id with designs and cart items, to merge into a user
	BiginRecords []BiginRecord
	BPMUsers     []BPMUser
}

// BiginRecord is a demo Bigin record.
type BiginRecord struct {
	Module, ID string
	Photo      bool
}

// BPMUser is a demo BPM user.
type BPMUser struct {
	Name   string
	ID     int
	Avatar bool // a custom avatar, as opposed to the default
}

// Set is the running simulators.
type Set struct {
	Artifi *artifisim.Server
	Bigin  *biginsim.Server
	BPM    *bpmsim.Server

	ArtifiURL, BiginURL, BPMURL string
	Credentials                 Credentials
	Demo                        Demo

	closeOnce sync.Once
	stop      func() bool // detaches the ctx watcher
}

// Demo credentials. The Bigin and BPM simulators' own defaults are used for
// theirs (reported in Credentials); Artifi's simulator has none, so they are
// chosen here.
const (
	artifiWebsiteID = 1001
	artifiClientKey = "sim-artifi-client-key"
)

// Start starts the three simulators and seeds them. They stop when ctx ends
// or Close is called, whichever comes first. If one fails to start, those
// already started are stopped and the error names it.
func Start(ctx context.Context, opts Options) (*Set, error) {
	for _, a := range []struct{ name, addr string }{
		{"ArtifiAddr", opts.ArtifiAddr}, {"BiginAddr", opts.BiginAddr}, {"BPMAddr", opts.BPMAddr},
	} {
		if err := checkLoopback(a.addr); err != nil {
			return nil, fmt.Errorf("simulate: Options.%s: %w", a.name, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &Set{
		Artifi: artifisim.New(artifisim.Options{WebsiteID: artifiWebsiteID, ClientKey: artifiClientKey, Faults: opts.Faults}),
		Bigin:  biginsim.New(biginsim.Options{Addr: opts.BiginAddr, TokenLifetime: opts.BiginTokenLifetime, Faults: opts.Faults}),
		BPM:    bpmsim.New(bpmsim.Options{Addr: opts.BPMAddr, CSRFLifetime: opts.BPMCSRFLifetime, Faults: opts.Faults}),
	}
	var err error
	if s.ArtifiURL, err = s.startArtifi(opts.ArtifiAddr); err != nil {
		return nil, fmt.Errorf("simulate: start Artifi: %w", err)
	}
	if s.BiginURL, err = s.Bigin.Start(); err != nil {
		s.Artifi.Close()
		return nil, fmt.Errorf("simulate: start Bigin: %w", err)
	}
	if s.BPMURL, err = s.BPM.Start(); err != nil {
		s.Artifi.Close()
		_ = s.Bigin.Close()
		return nil, fmt.Errorf("simulate: start BPM: %w", err)
	}
	bo, po := s.Bigin.Options(), s.BPM.Options()
	s.Credentials = Credentials{
		ArtifiWebsiteID: artifiWebsiteID, ArtifiClientKey: artifiClientKey,
		BiginClientID: bo.ClientID, BiginClientSecret: bo.ClientSecret, BiginRefreshToken: bo.RefreshToken,
		BPMUsername: po.Username, BPMPassword: po.Password,
	}
	if !opts.NoDemoData {
		s.seed()
	}
	s.stop = context.AfterFunc(ctx, func() { _ = s.close() })
	return s, nil
}

func (s *Set) startArtifi(addr string) (string, error) {
	if addr == "" {
		return s.Artifi.Start()
	}
	return s.Artifi.StartOn(addr)
}

// checkLoopback accepts "" (a free loopback port) and loopback addresses.
func checkLoopback(addr string) error {
	if addr == "" {
		return nil
	}
	return simserver.CheckLoopback(addr)
}

// Close stops the three simulators. It is safe to call more than once.
func (s *Set) Close() error {
	if s.stop != nil {
		s.stop()
	}
	return s.close()
}

func (s *Set) close() error {
	var err error
	s.closeOnce.Do(func() {
		s.Artifi.Close()
		err = errors.Join(s.Bigin.Close(), s.BPM.Close())
	})
	return err
}

// seed adds the demo data and records it in s.Demo.
func (s *Set) seed() {
	d := Demo{ArtifiPhotos: map[string][]string{}, ArtifiGuest: "guest-5001"}
	for _, u := range []string{"2001", "2002", "2003"} {
		d.ArtifiUsers = append(d.ArtifiUsers, u)
		d.ArtifiPhotos[u] = s.Artifi.AddPhotos(u, 3)
		s.Artifi.AddDesigns(u, 2)
	}
	s.Artifi.AddDesigns(d.ArtifiGuest, 2)
	s.Artifi.AddCartItems(d.ArtifiGuest, 1)

	d.BiginRecords = []BiginRecord{
		{"Contacts", "2034020000000489033", true}, // the seed's example record
		{"Contacts", "2034020000000489034", true},
		{"Contacts", "2034020000000489035", false},
		{"Accounts", "2034020000000500001", true},
		{"Products", "2034020000000600001", true},
	}
	for _, r := range d.BiginRecords {
		s.Bigin.AddRecord(r.Module, r.ID, r.Photo)
	}

	d.BPMUsers = []BPMUser{
		{"tw_admin", 9, true}, // the seed's example user
		{"alice", 10, true},
		{"bob", 11, false},
	}
	for _, u := range d.BPMUsers {
		s.BPM.AddUser(u.Name, u.ID, u.Avatar)
	}
	s.Demo = d
}

// Env is the worker configuration (LIFECYCLE_* variables) that points every
// client at this Set. The values are the simulators' fixed test
// credentials, safe to print.
func (s *Set) Env() [][2]string {
	c := s.Credentials
	return [][2]string{
		{"LIFECYCLE_ARTIFI_URL", s.ArtifiURL},
		{"LIFECYCLE_ARTIFI_WEBSITE_ID", strconv.Itoa(c.ArtifiWebsiteID)},
		{"LIFECYCLE_ARTIFI_CLIENT_KEY", c.ArtifiClientKey},
		{"LIFECYCLE_BIGIN_ACCOUNTS_URL", s.BiginURL},
		{"LIFECYCLE_BIGIN_API_DOMAIN", s.BiginURL},
		{"LIFECYCLE_BIGIN_CLIENT_ID", c.BiginClientID},
		{"LIFECYCLE_BIGIN_CLIENT_SECRET", c.BiginClientSecret},
		{"LIFECYCLE_BIGIN_REFRESH_TOKEN", c.BiginRefreshToken},
		{"LIFECYCLE_BPM_URL", s.BPMURL},
		{"LIFECYCLE_BPM_USERNAME", c.BPMUsername},
		{"LIFECYCLE_BPM_PASSWORD", c.BPMPassword},
	}
}
