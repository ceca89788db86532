//go:build race

package deploytest

// raceEnabled builds syncserver with the race detector when the tests have it.
const raceEnabled = true
