// Package faults is the fault suite (issue 16): each test makes one fault
// happen to a running lifecycle deployment of real containers and
// processes on this machine, bounded in time, prints one line (tasks in,
// tasks out by outcome, lost, repeated upstream calls, recovery time) and
// asserts that nothing was lost.
package faults
