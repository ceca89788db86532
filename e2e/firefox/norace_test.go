//go:build !race

package firefox

const raceEnabled = false
