package accounts

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"syncserver/accounts/onepw"
	"syncserver/handlers"
)

const sendTab = "https://identity.mozilla.com/cmd/open-uri"

func TestDevicesAndCommands(t *testing.T) {
	h := newHarness(t)
	h.addAccount("me@example.org", "pw")
	page := &pageClient{h: h, email: "me@example.org", password: "pw"}
	a, b := page.signIn(), page.signIn()

	reg := map[string]any{"name": "A's Firefox", "type": "desktop", "availableCommands": map[string]string{sendTab: "keyA"},
		"pushCallback": "https://push.example/1", "pushPublicKey": "pk", "pushAuthKey": "ak"}
	da := wantOK(t, h.session("POST", "/v1/account/device", reg, a.session))
	id := da["id"].(string)
	if !isHex(id, 16) || da["pushEndpointExpired"] != false || da["name"] != "A's Firefox" {
		t.Fatalf("registration %v", da)
	}
	// A second registration of the same session (racing, or repeated)
	// updates the one device.
	again := wantOK(t, h.session("POST", "/v1/account/device", map[string]any{"name": "renamed", "type": "desktop"}, a.session))
	if again["id"] != id || again["name"] != "renamed" {
		t.Fatalf("re-registration made %v", again)
	}
	// An update with the id keeps the fields it does not name.
	upd := wantOK(t, h.session("POST", "/v1/account/device", map[string]any{"id": id, "pushCallback": "https://push.example/2"}, a.session))
	if upd["name"] != "renamed" || upd["pushCallback"] != "https://push.example/2" {
		t.Fatalf("update %v", upd)
	}
	db := wantOK(t, h.session("POST", "/v1/account/device", map[string]any{"name": "B", "type": "desktop", "availableCommands": map[string]string{sendTab: "keyB"}}, b.session))
	idB := db["id"].(string)
	// The id of another session's device, or of no device: 400/123.
	wantErrno(t, h.session("POST", "/v1/account/device", map[string]any{"id": idB, "name": "stolen"}, a.session), 400, errnoUnknownDevice)
	wantErrno(t, h.session("POST", "/v1/account/device", map[string]any{"id": "00000000000000000000000000000000"}, a.session), 400, errnoUnknownDevice)
	wantErrno(t, h.session("POST", "/v1/account/device", "{bad", a.session), 400, errnoInvalidJSON)

	var list []map[string]any
	decodeInto(t, h.session("GET", "/v1/account/devices?filterIdleDevicesTimestamp=0", nil, a.session), &list)
	if len(list) != 2 {
		t.Fatalf("devices %v", list)
	}
	for _, d := range list {
		if (d["id"] == id) != (d["isCurrentDevice"] == true) {
			t.Fatalf("isCurrentDevice wrong: %v", d)
		}
		for _, f := range []string{"lastAccessTime", "availableCommands", "pushEndpointExpired", "location", "pushCallback", "name", "type"} {
			if _, ok := d[f]; !ok {
				t.Fatalf("device lacks %s: %v", f, d)
			}
		}
	}
	// Idle devices are filtered out, the caller's own never.
	h.clock.Add(48 * time.Hour)
	since := strconv.FormatInt(h.clock.Now().Add(-time.Hour).UnixMilli(), 10)
	list = nil
	decodeInto(t, h.session("GET", "/v1/account/devices?filterIdleDevicesTimestamp="+since, nil, a.session), &list)
	if len(list) != 1 || list[0]["id"] != id {
		t.Fatalf("filtered devices %v", list)
	}

	// Send tab: queued for B until it polls.
	payload := map[string]any{"encrypted": "opaque"}
	m := wantOK(t, h.session("POST", "/v1/account/devices/invoke_command", map[string]any{"command": sendTab, "target": idB, "payload": payload}, a.session))
	if m["enqueued"] != true || m["notified"] != false {
		t.Fatalf("invoke_command %v", m)
	}
	wantOK(t, h.session("POST", "/v1/account/devices/invoke_command", map[string]any{"command": sendTab, "target": idB, "payload": map[string]any{"encrypted": "second"}}, a.session))
	wantErrno(t, h.session("POST", "/v1/account/devices/invoke_command", map[string]any{"command": sendTab, "target": "ffffffffffffffffffffffffffffffff", "payload": payload}, a.session), 400, errnoUnknownDevice)
	wantErrno(t, h.session("POST", "/v1/account/devices/invoke_command", map[string]any{"command": "https://identity.mozilla.com/cmd/close-uri", "target": idB, "payload": payload}, a.session), 400, errnoInvalidParameter)
	wantErrno(t, h.session("POST", "/v1/account/devices/invoke_command", map[string]any{"target": idB, "payload": payload}, a.session), 400, errnoMissingParameter)

	var cmds commandsPage
	decodeInto(t, h.session("GET", "/v1/account/device/commands?index=0&limit=1", nil, b.session), &cmds)
	if len(cmds.Messages) != 1 || cmds.Last || cmds.Messages[0].Data.Command != sendTab || cmds.Messages[0].Data.Sender != id ||
		string(cmds.Messages[0].Data.Payload) != `{"encrypted":"opaque"}` || cmds.Index != cmds.Messages[0].Index {
		t.Fatalf("commands %+v", cmds)
	}
	first := cmds.Index
	cmds.Messages = nil
	decodeInto(t, h.session("GET", "/v1/account/device/commands?index="+strconv.FormatInt(first+1, 10), nil, b.session), &cmds)
	if len(cmds.Messages) != 1 || !cmds.Last || cmds.Messages[0].Index <= first {
		t.Fatalf("second page %+v", cmds)
	}
	// A has no commands.
	cmds.Messages = nil
	decodeInto(t, h.session("GET", "/v1/account/device/commands", nil, a.session), &cmds)
	if len(cmds.Messages) != 0 || !cmds.Last {
		t.Fatalf("A's commands %+v", cmds)
	}

	var attached []map[string]any
	decodeInto(t, h.session("GET", "/v1/account/attached_clients", nil, a.session), &attached)
	if len(attached) != 2 {
		t.Fatalf("attached clients %v", attached)
	}
	for _, c := range attached {
		if _, ok := c["userAgent"].(string); !ok || (c["deviceId"] == id) != (c["isCurrentSession"] == true) {
			t.Fatalf("attached client %v", c)
		}
	}

	// Destroying B's device signs B out.
	wantOK(t, h.session("POST", "/v1/account/device/destroy", map[string]string{"id": idB}, a.session))
	wantErrno(t, h.session("GET", "/v1/session/status", nil, b.session), 401, errnoInvalidToken)
	wantErrno(t, h.session("POST", "/v1/account/device/destroy", map[string]string{"id": idB}, a.session), 400, errnoUnknownDevice)
	// Sign-out of A takes its device along.
	c := page.signIn()
	wantOK(t, h.session("POST", "/v1/session/destroy", map[string]string{}, a.session))
	list = nil
	decodeInto(t, h.session("GET", "/v1/account/devices", nil, c.session), &list)
	if len(list) != 0 {
		t.Fatalf("devices after sign-out %v", list)
	}
	_ = onepw.ScopeOldSync
}

// commandsPage is the answer of GET /v1/account/device/commands.
type commandsPage struct {
	Index    int64 `json:"index"`
	Last     bool  `json:"last"`
	Messages []struct {
		Index int64 `json:"index"`
		Data  struct {
			Command string          `json:"command"`
			Payload json.RawMessage `json:"payload"`
			Sender  string          `json:"sender"`
		} `json:"data"`
	} `json:"messages"`
}

// TestDeviceCommandQueue: the send-tab queue as Firefox polls it. Indexes
// grow, index is inclusive, limit pages with last; commands expire after
// their TTL (30 days by default, as Mozilla's); a device's queue is
// bounded and a send beyond the bound is an error the sender sees, never
// a command silently dropped.
func TestDeviceCommandQueue(t *testing.T) {
	h := newHarness(t)
	h.addAccount("me@example.org", "pw")
	page := &pageClient{h: h, email: "me@example.org", password: "pw"}
	a, b := page.signIn(), page.signIn()
	register := func(s signedIn, name string) string {
		t.Helper()
		d := wantOK(t, h.session("POST", "/v1/account/device", map[string]any{"name": name, "type": "desktop",
			"availableCommands": map[string]string{sendTab: `{"kid":"` + name + `"}`}}, s.session))
		return d["id"].(string)
	}
	idA, idB := register(a, "A"), register(b, "B")
	send := func(payload string, extra ...any) *handlers.Response {
		t.Helper()
		body := map[string]any{"command": sendTab, "target": idB, "payload": map[string]string{"encrypted": payload}}
		for i := 0; i+1 < len(extra); i += 2 {
			body[extra[i].(string)] = extra[i+1]
		}
		return h.session("POST", "/v1/account/devices/invoke_command", body, a.session)
	}
	poll := func(query string) commandsPage {
		t.Helper()
		var p commandsPage
		decodeInto(t, h.session("GET", "/v1/account/device/commands"+query, nil, b.session), &p)
		return p
	}

	// availableCommands is stored as Firefox sent it: what A reads of B
	// is B's published key, which A encrypts to.
	var list []map[string]any
	decodeInto(t, h.session("GET", "/v1/account/devices", nil, a.session), &list)
	for _, d := range list {
		if d["id"] == idB && d["availableCommands"].(map[string]any)[sendTab] != `{"kid":"B"}` {
			t.Fatalf("B's availableCommands as A sees them: %v", d["availableCommands"])
		}
	}

	for i := range 3 {
		wantOK(t, send(fmt.Sprint("tab ", i)))
	}
	all := poll("?index=0")
	if len(all.Messages) != 3 || !all.Last || all.Index != all.Messages[2].Index {
		t.Fatalf("all commands: %+v", all)
	}
	for i, m := range all.Messages {
		if i > 0 && m.Index <= all.Messages[i-1].Index {
			t.Fatalf("indexes not increasing: %+v", all)
		}
		if m.Data.Sender != idA || m.Data.Command != sendTab || string(m.Data.Payload) != fmt.Sprintf(`{"encrypted":"tab %d"}`, i) {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	// Firefox asks for its last index + 1: the index is inclusive.
	second := all.Messages[1].Index
	if p := poll(fmt.Sprintf("?index=%d&limit=1", second)); len(p.Messages) != 1 || p.Messages[0].Index != second || p.Last || p.Index != second {
		t.Fatalf("index=%d&limit=1: %+v", second, p)
	}
	if p := poll(fmt.Sprintf("?index=%d", all.Index+1)); len(p.Messages) != 0 || !p.Last {
		t.Fatalf("after the last: %+v", p)
	}
	// Polling does not consume: the same page again (Firefox keeps its
	// own lastCommandIndex).
	if p := poll(""); len(p.Messages) != 3 {
		t.Fatalf("second poll from the start: %+v", p)
	}
	for _, q := range []string{"?index=-1", "?index=x", "?limit=-5", "?limit=1e3"} {
		wantErrno(t, h.session("GET", "/v1/account/device/commands"+q, nil, b.session), 400, errnoInvalidParameter)
	}

	// TTL: the default keeps a command 30 days; a shorter ttl is honoured.
	wantOK(t, send("short", "ttl", 60))
	h.clock.Add(2 * time.Minute)
	if p := poll(""); len(p.Messages) != 3 {
		t.Fatalf("the 60 s command outlived its TTL: %+v", p)
	}
	h.clock.Add(29 * 24 * time.Hour)
	if p := poll(""); len(p.Messages) != 3 {
		t.Fatalf("after 29 days: %+v", p)
	}
	h.clock.Add(2 * 24 * time.Hour)
	if p := poll(""); len(p.Messages) != 0 || !p.Last {
		t.Fatalf("after 31 days the commands are still there: %+v", p)
	}

	// Errors the sender sees: unknown target, a command the target did
	// not publish, a missing or oversized payload.
	wantErrno(t, h.session("POST", "/v1/account/devices/invoke_command", map[string]any{"command": sendTab,
		"target": "0123456789abcdef0123456789abcdef", "payload": map[string]string{"encrypted": "x"}}, a.session), 400, errnoUnknownDevice)
	wantErrno(t, h.session("POST", "/v1/account/devices/invoke_command", map[string]any{"command": sendTab,
		"target": idB, "payload": nil}, a.session), 400, errnoMissingParameter)
	wantErrno(t, send(strings.Repeat("x", maxCommandPayload)), 400, errnoInvalidParameter)

	// The bound: a device that never polls gets at most maxQueuedCommands;
	// the next send is refused (429/114, without retryAfter, which would
	// freeze Firefox's FxA client) and stores nothing.
	for i := range maxQueuedCommands {
		if r := send(fmt.Sprint("flood ", i)); r.Status != 200 {
			t.Fatalf("send %d of %d: %d %s", i+1, maxQueuedCommands, r.Status, r.Body)
		}
	}
	full := send("one too many")
	wantErrno(t, full, 429, errnoTooManyRequests)
	if strings.Contains(string(full.Body), "retryAfter") || full.Header.Get("Retry-After") != "" {
		t.Errorf("a full queue answered with a retry-after: %s", full.Body)
	}
	queued := 0
	for index := int64(0); ; {
		p := poll(fmt.Sprintf("?index=%d", index))
		queued += len(p.Messages)
		for _, m := range p.Messages {
			if strings.Contains(string(m.Data.Payload), "one too many") {
				t.Fatalf("the refused command was queued")
			}
		}
		if p.Last {
			break
		}
		index = p.Index + 1
	}
	if queued != maxQueuedCommands {
		t.Fatalf("%d commands queued, want %d", queued, maxQueuedCommands)
	}
	// A's own queue is not B's: sending to A still works.
	wantOK(t, h.session("POST", "/v1/account/devices/invoke_command", map[string]any{"command": sendTab,
		"target": idA, "payload": map[string]string{"encrypted": "to A"}}, b.session))
}
