package config

import (
	"strings"
	"unicode/utf8"
)

// keyHint suggests what an unknown key of a known section was meant to be:
// a key of that section spelt nearly the same, or the section the key
// belongs to, else the list of the section's keys.
func (l *loader) keyHint(section, name string) string {
	var cands []string
	for _, k := range keys {
		if k.section == section && !strings.HasSuffix(k.name, "*") {
			cands = append(cands, k.name)
		}
	}
	if c := closest(name, cands); c != "" {
		return "; did you mean " + c + "?"
	}
	if s := l.sectionOf(name); s != "" {
		return s
	}
	var ours []string
	for _, k := range keys {
		if k.section == section && k.kind != kindIgnored {
			ours = append(ours, k.name)
		}
	}
	return " (the keys of [" + section + "] are " + strings.Join(ours, ", ") + ")"
}

// sectionOf names the section where a key of ours belongs, if there is one.
func (l *loader) sectionOf(name string) string {
	for _, k := range keys {
		if k.kind != kindIgnored && k.name == name {
			return "; it belongs in " + l.header(k.section)
		}
	}
	return ""
}

// sectionHint suggests the section an unknown one was meant to be.
func (l *loader) sectionHint(name string) string {
	var cands []string
	seen := map[string]bool{}
	for _, k := range keys {
		if !seen[k.section] {
			seen[k.section] = true
			cands = append(cands, k.section)
		}
	}
	for _, s := range ignoredSections {
		if !strings.HasSuffix(s.name, "*") {
			cands = append(cands, s.name)
		}
	}
	for _, c := range cands {
		// [server.main] in TOML is table "server" holding "main".
		if before, _, ok := strings.Cut(c, ":"); ok && before == name {
			return "; did you mean " + l.header(c) + "?"
		}
	}
	if c := closest(name, cands); c != "" {
		return "; did you mean " + l.header(c) + "?"
	}
	return ""
}

// closest returns the candidate nearest to name when it is near enough to be
// a slip of the keyboard, "" otherwise.
func closest(name string, cands []string) string {
	best, bestD := "", 3
	n := utf8.RuneCountInString(name)
	for _, c := range cands {
		if m := utf8.RuneCountInString(c); n-m >= bestD || m-n >= bestD {
			continue // too far apart in length alone; keeps a huge name cheap
		}
		d := distance(strings.ToLower(name), strings.ToLower(c))
		if d < bestD && d <= len([]rune(c))/3 {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the edit distance between a and b counting an insertion, a
// deletion, a substitution or a swap of neighbours as one edit.
func distance(a, b string) int {
	x, y := []rune(a), []rune(b)
	d := make([][]int, len(x)+1)
	for i := range d {
		d[i] = make([]int, len(y)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(x)][len(y)]
}
