package accounts

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"syncserver/accounts/onepw"
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

	var cmds struct {
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
