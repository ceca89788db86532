package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"syncserver/db"
	"syncserver/handlers"
	"syncserver/internal/config"
)

// syncserver nodes: the storage nodes of Mozilla's nodes table. A single
// server has one, its node_url, registered at its first token request.
// They matter when several syncservers (each its own node) or Mozilla's
// tokenserver tools share one database. drain and down set Mozilla's
// downed flag; down also unassigns the node's accounts (Mozilla's
// unassign_node); backoff sets its backoff column, in seconds.

func nodesCommand() command {
	return command{
		summary: "list, add, remove, drain, down storage nodes; set a node's capacity and backoff",
		run:     runNodes,
	}
}

const nodesUsage = `Usage: syncserver [-config FILE] nodes COMMAND [--json] ...

  list                          nodes with their capacity, load and users
  add URL [--capacity N]        register a storage node (default capacity 100000)
  remove URL                    remove a node no account is assigned to
  set-capacity URL N            change how many accounts a node takes
  drain URL                     send the node no new accounts; its accounts stay
  undrain URL                   let the node take new accounts again
  down URL                      send the node no accounts at all: each of its
                                accounts moves to another node (a new, empty
                                storage) at its next token request; the node
                                answers their old tokens 401, so that comes soon
  up URL                        let a downed node take new accounts again
  backoff URL SECONDS           tell the node's clients to back off (X-Backoff)
                                and send it no new accounts; 0 ends it

URL is the node's public URL, as a token names it: "https://sync.example.com".
`

// defaultNodeCapacity is the capacity of an added node (the default of
// syncstorage-rs's init_node_capacity).
const defaultNodeCapacity = 100000

func runNodes(ctx context.Context, m *Main) int {
	rest, err := m.leadingGlobalFlags(m.Args)
	if err != nil {
		return flagError(err)
	}
	if len(rest) == 0 {
		fmt.Fprint(m.Stderr, nodesUsage)
		return exitUsage
	}
	sub, args := rest[0], rest[1:]
	fs := m.newFlags("nodes "+sub, "nodes "+sub+" ...")
	asJSON := fs.Bool("json", false, "print JSON")
	capacity := int64(defaultNodeCapacity)
	want := map[string]int{"list": 0, "add": 1, "remove": 1, "set-capacity": 2,
		"drain": 1, "undrain": 1, "down": 1, "up": 1, "backoff": 2}
	n, ok := want[sub]
	if !ok {
		if sub == "-h" || sub == "--help" || sub == "help" {
			fmt.Fprint(m.Stdout, nodesUsage)
			return exitOK
		}
		fmt.Fprintf(m.Stderr, "syncserver: nodes: unknown command %q\n%s", sub, nodesUsage)
		return exitUsage
	}
	if sub == "add" {
		fs.Int64Var(&capacity, "capacity", defaultNodeCapacity, "how many accounts the node takes")
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != n {
		fmt.Fprintf(m.Stderr, "syncserver: nodes %s takes %d arguments\n%s", sub, n, nodesUsage)
		return exitUsage
	}
	if n > 0 {
		if _, err := config.ParsePublicURL(pos[0]); err != nil {
			return m.badArgs(fs, "node %q: %v", pos[0], err)
		}
	}
	var backoff int64
	switch sub {
	case "set-capacity":
		if capacity, err = strconv.ParseInt(pos[1], 10, 64); err != nil || capacity < 0 {
			return m.badArgs(fs, "capacity %q is not a number of accounts", pos[1])
		}
	case "backoff":
		if backoff, err = strconv.ParseInt(pos[1], 10, 64); err != nil || backoff < 0 || backoff > 1<<31-1 {
			return m.badArgs(fs, "backoff %q is not a number of seconds", pos[1])
		}
	}
	if capacity < 0 {
		return m.badArgs(fs, "a capacity cannot be negative")
	}
	admin, err := m.openAdmin(ctx)
	if err != nil {
		return m.fail(err)
	}
	defer m.Close()
	var msg string
	switch sub {
	case "add":
		err = admin.AddNode(ctx, db.Service, pos[0], capacity)
		msg = fmt.Sprintf("Added node %s (capacity %d).", pos[0], capacity)
	case "remove":
		err = admin.RemoveNode(ctx, db.Service, pos[0])
		if errors.Is(err, db.ErrInUse) {
			err = fmt.Errorf("%w; move its accounts first (syncserver nodes down %s)", err, pos[0])
		}
		msg = "Removed node " + pos[0] + "."
		if nodeURLOf(pos[0]) == nodeURLOf(m.Config.Tokenserver.NodeURL) {
			msg += " It is this server's node_url: the server registers it again at its next start."
		}
	case "set-capacity":
		err = admin.SetNodeCapacity(ctx, db.Service, pos[0], capacity)
		msg = fmt.Sprintf("Node %s now takes %d accounts.", pos[0], capacity)
	case "drain":
		err = admin.SetNodeDowned(ctx, db.Service, pos[0], true)
		msg = "Node " + pos[0] + " gets no new accounts; its accounts stay (syncserver nodes down moves them)."
	case "undrain", "up":
		err = admin.SetNodeDowned(ctx, db.Service, pos[0], false)
		msg = "Node " + pos[0] + " takes new accounts again."
	case "down":
		var moved int64
		if err = admin.SetNodeDowned(ctx, db.Service, pos[0], true); err == nil {
			moved, err = admin.UnassignNode(ctx, db.Service, pos[0])
		}
		msg = fmt.Sprintf("Node %s is down: %d account(s) move to other nodes at their next token request, "+
			"where Firefox finds an empty storage and uploads its data again.", pos[0], moved)
	case "backoff":
		err = admin.SetNodeBackoff(ctx, db.Service, pos[0], backoff)
		msg = fmt.Sprintf("Node %s tells its clients to back off %d seconds (within %d seconds) and gets no new accounts.",
			pos[0], backoff, int(handlers.NodeBackoffTTL.Seconds()))
		if backoff == 0 {
			msg = "Node " + pos[0] + " no longer tells its clients to back off."
		}
	}
	if err != nil {
		return m.fail(err)
	}
	nodes, err := admin.Nodes(ctx, db.Service)
	if err != nil {
		return m.fail(err)
	}
	if *asJSON {
		type nodeJSON struct {
			URL         string  `json:"url"`
			Capacity    int64   `json:"capacity"`
			Available   int64   `json:"available"`
			CurrentLoad int64   `json:"current_load"`
			Load        float64 `json:"load"`
			Users       int64   `json:"users"`
			Downed      bool    `json:"downed"`
			Backoff     int64   `json:"backoff"`
			State       string  `json:"state"`
			ThisServer  bool    `json:"this_server"`
		}
		out := []nodeJSON{}
		for _, n := range nodes {
			out = append(out, nodeJSON{n.URL, n.Capacity, n.Available, n.CurrentLoad, loadRatio(n), n.Users, n.Downed, n.Backoff,
				nodeState(n), n.URL == nodeURLOf(m.Config.Tokenserver.NodeURL)})
		}
		if err := writeJSON(m.Stdout, out); err != nil {
			return m.fail(err)
		}
		return exitOK
	}
	if msg != "" {
		fmt.Fprintln(m.Stdout, msg)
	}
	if len(nodes) == 0 {
		fmt.Fprintln(m.Stdout, "No storage node is registered yet (the server registers its node_url at its first token request).")
		return exitOK
	}
	t := newTable(m.Stdout, "NODE", "CAPACITY", "AVAILABLE", "LOAD", "USERS", "STATE")
	for _, n := range nodes {
		state := nodeState(n)
		if n.URL == nodeURLOf(m.Config.Tokenserver.NodeURL) {
			state += " (this server)"
		}
		t.row(n.URL, n.Capacity, n.Available, fmt.Sprintf("%d (%.0f%%)", n.CurrentLoad, 100*loadRatio(n)), n.Users, state)
	}
	t.flush()
	return exitOK
}

// loadRatio is what assignment compares: current_load / capacity (1 for
// a node of no capacity).
func loadRatio(n db.Node) float64 {
	if n.Capacity <= 0 {
		return 1
	}
	return float64(n.CurrentLoad) / float64(n.Capacity)
}

// nodeState names a node's state: "down" (downed, no account left),
// "draining" (downed, its accounts still there), "backoff Ns", or "up".
func nodeState(n db.Node) string {
	var state string
	switch {
	case n.Downed && n.Users == 0:
		state = "down"
	case n.Downed:
		state = "draining"
	default:
		state = "up"
	}
	if n.Backoff > 0 {
		state += fmt.Sprintf(", backoff %ds", n.Backoff)
	}
	return state
}

// nodeURLOf is a node URL as the nodes table keeps it.
func nodeURLOf(u string) string {
	for len(u) > 0 && u[len(u)-1] == '/' {
		u = u[:len(u)-1]
	}
	return u
}
