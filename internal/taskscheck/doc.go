// Package taskscheck holds the tests of the producer contract (the tasks
// module) that need the worker's own packages: a Redis from testutil, and
// rkeys, skeys and storage to check that what the contract accepts is what
// they accept. tasks is a module of its own (tasks/go.mod) so that a producer
// importing it gets asynq and the standard library only; a nested module
// cannot import the root's internal packages, and requiring them would bring
// the worker's whole module graph back, so these tests live here.
package taskscheck
