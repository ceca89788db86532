//go:build race

package firefox

// raceEnabled: the test runs with the race detector, and so does the
// syncserver it builds.
const raceEnabled = true
