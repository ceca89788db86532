package token

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// NodeSecrets gives each storage node its own secrets, as the secrets file
// of Mozilla's tokenserver (mozsvc.secrets.Secrets, the legacy
// [tokenserver] secrets_file) does: the tokenserver signs a node's tokens
// with that node's newest secret, and the node accepts any of its own, so
// a token minted for node A is refused by node B, and a node's secret can
// be rotated without signing anybody out.
// A NodeSecrets is immutable and safe for concurrent use.
type NodeSecrets struct {
	nodes map[string]*Secrets // by node URL without trailing slash
	order []string            // node URLs in file order
}

// ParseNodeSecrets reads a secrets file in the format of Mozilla's
// tokenserver: CSV lines
//
//	https://node1.example.com,1700000000:3f2a…,1710000000:9c1b…
//
// a node URL, then one or more "timestamp:secret" fields. A node's
// secrets are sorted by timestamp (seconds since the epoch, when the
// secret was made); the newest signs. As in Mozilla's reader, a line
// with a URL alone is skipped and a node listed twice is an error.
// Blank lines and lines starting with "#" are skipped too. The error
// names the line and never shows a secret.
func ParseNodeSecrets(r io.Reader) (*NodeSecrets, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	ns := &NodeSecrets{nodes: make(map[string]*Secrets)}
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("token: secrets file line %d: not CSV: %v", pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("token: secrets file: %w", err)
		}
		if len(row) < 2 {
			continue
		}
		node := strings.TrimRight(strings.TrimSpace(row[0]), "/")
		if node == "" {
			return nil, fmt.Errorf("token: secrets file line %d: no node URL before the secrets", line)
		}
		if _, dup := ns.nodes[node]; dup {
			return nil, fmt.Errorf("token: secrets file line %d: node %s is listed twice", line, node)
		}
		type stamped struct {
			ts     int64
			secret string
		}
		var list []stamped
		for i, f := range row[1:] {
			ts, secret, ok := strings.Cut(strings.TrimSpace(f), ":")
			n, err := strconv.ParseInt(ts, 10, 64)
			if !ok || err != nil || n < 0 || secret == "" || strings.Contains(secret, ":") {
				return nil, fmt.Errorf("token: secrets file line %d: secret %d of %s is not \"timestamp:secret\"", line, i+1, node)
			}
			list = append(list, stamped{n, secret})
		}
		slices.SortStableFunc(list, func(a, b stamped) int { return cmpInt(a.ts, b.ts) })
		secrets := make([]string, len(list))
		for i, s := range list {
			secrets[i] = s.secret
		}
		s, err := NewSecrets(secrets)
		if err != nil {
			return nil, fmt.Errorf("token: secrets file line %d: %w", line, err)
		}
		ns.nodes[node] = s
		ns.order = append(ns.order, node)
	}
	if len(ns.nodes) == 0 {
		return nil, errors.New("token: secrets file lists no node with a secret")
	}
	return ns, nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// For returns the secrets of node (a trailing slash is ignored), nil when
// the file has none for it.
func (ns *NodeSecrets) For(node string) *Secrets {
	return ns.nodes[strings.TrimRight(node, "/")]
}

// Nodes lists the node URLs of the file, in its order.
func (ns *NodeSecrets) Nodes() []string { return slices.Clone(ns.order) }

// Len is how many secrets s holds; the last one signs.
func (s *Secrets) Len() int { return len(s.list) }
