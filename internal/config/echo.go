package config

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Error messages quote the value at fault, but never all of a long one: a
// 1 MB public_url must not become a 1 MB log line.
const (
	// maxEcho is how many characters of a value a message quotes.
	maxEcho = 80
	// maxMessage bounds a whole message, whatever it quotes (an error of
	// a library that echoes its input).
	maxMessage = 1000
)

// Quote quotes a value for an error message: whole when short, else its
// first 80 characters, "…" and its length ("http://aaa…" (1048576 bytes)).
func Quote(s string) string {
	if utf8.RuneCountInString(s) <= maxEcho {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s (%d bytes)", strconv.Quote(firstRunes(s, maxEcho)+"…"), len(s))
}

// ClipMessage cuts a message longer than 1000 characters: a bound for
// messages that quote what another package's error echoed.
func ClipMessage(s string) string {
	if utf8.RuneCountInString(s) <= maxMessage {
		return s
	}
	return fmt.Sprintf("%s… (message of %d bytes cut)", firstRunes(s, maxMessage), len(s))
}

// firstRunes is the first n characters of s.
func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}
