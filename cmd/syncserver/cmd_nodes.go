package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"syncserver/db"
	"syncserver/internal/config"
)

// syncserver nodes: the storage nodes of Mozilla's nodes table. A single
// server has one, its node_url, registered at its first token request.
// They matter when several syncservers (each its own node) or Mozilla's
// tokenserver tools share one database.

func nodesCommand() command {
	return command{
		summary: "list, add, remove storage nodes; set a node's capacity",
		run:     runNodes,
	}
}

const nodesUsage = `Usage: syncserver [-config FILE] nodes COMMAND [--json] ...

  list                          nodes with their capacity and users
  add URL [--capacity N]        register a storage node (default capacity 100000)
  remove URL                    remove a node no account is assigned to
  set-capacity URL N            change how many accounts a node takes

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
	want := map[string]int{"list": 0, "add": 1, "remove": 1, "set-capacity": 2}
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
	if sub == "set-capacity" {
		if capacity, err = strconv.ParseInt(pos[1], 10, 64); err != nil || capacity < 0 {
			return m.badArgs(fs, "capacity %q is not a number of accounts", pos[1])
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
			err = fmt.Errorf("%w; move or retire its accounts first", err)
		}
		msg = "Removed node " + pos[0] + "."
		if nodeURLOf(pos[0]) == nodeURLOf(m.Config.Tokenserver.NodeURL) {
			msg += " It is this server's node_url: the server registers it again at its next start."
		}
	case "set-capacity":
		err = admin.SetNodeCapacity(ctx, db.Service, pos[0], capacity)
		msg = fmt.Sprintf("Node %s now takes %d accounts.", pos[0], capacity)
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
			URL         string `json:"url"`
			Capacity    int64  `json:"capacity"`
			Available   int64  `json:"available"`
			CurrentLoad int64  `json:"current_load"`
			Users       int64  `json:"users"`
			Downed      bool   `json:"downed"`
			Backoff     bool   `json:"backoff"`
			ThisServer  bool   `json:"this_server"`
		}
		out := []nodeJSON{}
		for _, n := range nodes {
			out = append(out, nodeJSON{n.URL, n.Capacity, n.Available, n.CurrentLoad, n.Users, n.Downed, n.Backoff,
				n.URL == nodeURLOf(m.Config.Tokenserver.NodeURL)})
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
		state := "up"
		switch {
		case n.Downed:
			state = "down"
		case n.Backoff:
			state = "backoff"
		}
		if n.URL == nodeURLOf(m.Config.Tokenserver.NodeURL) {
			state += " (this server)"
		}
		t.row(n.URL, n.Capacity, n.Available, n.CurrentLoad, n.Users, state)
	}
	t.flush()
	return exitOK
}

// nodeURLOf is a node URL as the nodes table keeps it.
func nodeURLOf(u string) string {
	for len(u) > 0 && u[len(u)-1] == '/' {
		u = u[:len(u)-1]
	}
	return u
}
