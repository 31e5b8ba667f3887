// Package taskstest holds the tests of tasks/taskstest that need a Redis
// (testutil); see package taskscheck for why they live in the root module.
package taskstest
