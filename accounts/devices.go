package accounts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"syncserver/db"
	"syncserver/handlers"
)

func errUnknownDevice() *apiError {
	return newError(http.StatusBadRequest, errnoUnknownDevice, "Unknown device")
}

// deviceJSON is a device as the device routes answer it. The mobile
// library parses strictly: availableCommands, pushEndpointExpired and
// location must be there.
func deviceJSON(d db.Device, current bool, lastAccess int64) map[string]any {
	cmds := d.AvailableCommands
	if cmds == nil {
		cmds = map[string]string{}
	}
	return map[string]any{
		"id":                  d.ID,
		"name":                d.Name,
		"type":                d.Type,
		"isCurrentDevice":     current,
		"createdAt":           d.CreatedAt,
		"lastAccessTime":      lastAccess,
		"availableCommands":   cmds,
		"pushCallback":        nullIfEmpty(d.PushCallback),
		"pushPublicKey":       nullIfEmpty(d.PushPublicKey),
		"pushAuthKey":         nullIfEmpty(d.PushAuthKey),
		"pushEndpointExpired": false,
		"location":            map[string]any{},
	}
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ownDevice is the device of the caller's credential, nil when it has none.
func (s *Service) ownDevice(ctx context.Context, cr *credential) (*db.Device, []db.Device, error) {
	devs, err := s.store.Devices(ctx, cr.account.UID)
	if err != nil {
		return nil, nil, errServer(err)
	}
	for i := range devs {
		if bytes.Equal(devs[i].CredentialHash, cr.hash) {
			return &devs[i], devs, nil
		}
	}
	return nil, devs, nil
}

// device is POST /v1/account/device: register or update the device of the
// caller's credential. One device per credential: a repeated or racing
// registration updates it (the store upserts). Fields absent from an
// update keep their value.
func (s *Service) device(ctx context.Context, c *call) (*handlers.Response, error) {
	cr, err := s.deviceAuth(ctx, c)
	if err != nil {
		return nil, err
	}
	var req struct {
		ID                *string            `json:"id"`
		Name              *string            `json:"name"`
		Type              *string            `json:"type"`
		AvailableCommands *map[string]string `json:"availableCommands"`
		PushCallback      *string            `json:"pushCallback"`
		PushPublicKey     *string            `json:"pushPublicKey"`
		PushAuthKey       *string            `json:"pushAuthKey"`
	}
	if err := decode(c, &req, false); err != nil {
		return nil, err
	}
	own, _, err := s.ownDevice(ctx, cr)
	if err != nil {
		return nil, err
	}
	var d db.Device
	switch {
	case req.ID != nil && (own == nil || own.ID != *req.ID):
		// The id of another credential's device, or of none (spec
		// §3.3: 400/123 either way).
		return nil, errUnknownDevice()
	case own != nil:
		d = *own
	default:
		d = db.Device{ID: randomHex(16), UID: cr.account.UID, CredentialHash: cr.hash, CreatedAt: c.start.UnixMilli(), Type: "desktop"}
		if cr.refresh != nil {
			d.Type = "mobile"
		}
	}
	set := func(dst *string, v *string, maxLen int) error {
		if v == nil {
			return nil
		}
		if len(*v) > maxLen {
			return errInvalidParam("device")
		}
		*dst = *v
		return nil
	}
	for _, f := range []struct {
		dst *string
		v   *string
		n   int
	}{{&d.Name, req.Name, 255}, {&d.Type, req.Type, 16}, {&d.PushCallback, req.PushCallback, 2048},
		{&d.PushPublicKey, req.PushPublicKey, 255}, {&d.PushAuthKey, req.PushAuthKey, 255}} {
		if err := set(f.dst, f.v, f.n); err != nil {
			return nil, err
		}
	}
	if req.AvailableCommands != nil {
		if len(*req.AvailableCommands) > 32 {
			return nil, errInvalidParam("availableCommands")
		}
		d.AvailableCommands = *req.AvailableCommands
	}
	d.LastAccess = c.start.UnixMilli()
	stored, err := s.store.UpsertDevice(ctx, d)
	if err != nil {
		return nil, errServer(err)
	}
	out := deviceJSON(stored, true, stored.LastAccess)
	delete(out, "isCurrentDevice")
	delete(out, "location")
	delete(out, "lastAccessTime")
	return s.jsonOK(c, out)
}

// lastSeen is when a device's credential was last used, which the
// device's own row only knows from its last registration.
func (s *Service) lastSeen(ctx context.Context, d db.Device) int64 {
	last := d.LastAccess
	if t, err := s.store.AuthToken(ctx, d.CredentialHash); err == nil {
		last = max(last, t.LastUsed)
	} else if r, err := s.store.RefreshToken(ctx, d.CredentialHash); err == nil {
		last = max(last, r.LastUsed)
	}
	return last
}

// devices is GET /v1/account/devices.
func (s *Service) devices(ctx context.Context, c *call) (*handlers.Response, error) {
	cr, err := s.deviceAuth(ctx, c)
	if err != nil {
		return nil, err
	}
	devs, err := s.store.Devices(ctx, cr.account.UID)
	if err != nil {
		return nil, errServer(err)
	}
	idleBefore, _ := strconv.ParseInt(c.query.Get("filterIdleDevicesTimestamp"), 10, 64)
	out := make([]map[string]any, 0, len(devs))
	for _, d := range devs {
		current := bytes.Equal(d.CredentialHash, cr.hash)
		last := s.lastSeen(ctx, d)
		if idleBefore > 0 && last < idleBefore && !current {
			continue
		}
		out = append(out, deviceJSON(d, current, last))
	}
	return s.jsonOK(c, out)
}

// attachedClients is GET /v1/account/attached_clients: the devices and
// the refresh tokens without one. Token ids are stored hashed, so
// sessionTokenId and refreshTokenId are null; userAgent is a string and
// scope a list or null, as the mobile parser requires.
func (s *Service) attachedClients(ctx context.Context, c *call) (*handlers.Response, error) {
	cr, err := s.sessionAuth(ctx, c)
	if err != nil {
		return nil, err
	}
	devs, err := s.store.Devices(ctx, cr.account.UID)
	if err != nil {
		return nil, errServer(err)
	}
	refresh, err := s.store.RefreshTokens(ctx, cr.account.UID)
	if err != nil {
		return nil, errServer(err)
	}
	out := []map[string]any{}
	seenCurrent := false
	for _, d := range devs {
		current := bytes.Equal(d.CredentialHash, cr.hash)
		seenCurrent = seenCurrent || current
		entry := attachedClient(nil, d.ID, current, d.Type, d.Name, d.CreatedAt, s.lastSeen(ctx, d), nil, "")
		for _, r := range refresh {
			if bytes.Equal(r.Hash, d.CredentialHash) {
				entry["clientId"] = r.ClientID
				entry["scope"] = splitScope(r.Scope)
			}
		}
		out = append(out, entry)
	}
	for _, r := range refresh {
		bound := false
		for _, d := range devs {
			bound = bound || bytes.Equal(d.CredentialHash, r.Hash)
		}
		if !bound {
			typ := "mobile"
			if r.ClientID == desktopClientID {
				typ = "desktop"
			}
			out = append(out, attachedClient(r.ClientID, nil, false, typ, clients[r.ClientID], r.CreatedAt, r.LastUsed, splitScope(r.Scope), ""))
		}
	}
	if !seenCurrent {
		out = append(out, attachedClient(nil, nil, true, "desktop", "", cr.session.CreatedAt, cr.session.LastUsed, nil, cr.session.UserAgent))
	}
	return s.jsonOK(c, out)
}

func splitScope(s string) []string {
	var out []string
	for _, f := range bytes.Fields([]byte(s)) {
		out = append(out, string(f))
	}
	return out
}

func attachedClient(clientID, deviceID any, current bool, typ, name string, created, last int64, scope []string, ua string) map[string]any {
	if typ != "mobile" {
		typ = "desktop"
	}
	var sc any
	if scope != nil {
		sc = scope
	}
	return map[string]any{
		"clientId": clientID, "deviceId": deviceID, "sessionTokenId": nil, "refreshTokenId": nil,
		"isCurrentSession": current, "deviceType": typ, "name": name,
		"createdTime": created, "lastAccessTime": last, "scope": sc, "userAgent": ua, "os": nil,
	}
}

// deviceCommands is GET /v1/account/device/commands?index=&limit=: the
// queued commands for the caller's device from index on.
func (s *Service) deviceCommands(ctx context.Context, c *call) (*handlers.Response, error) {
	cr, err := s.deviceAuth(ctx, c)
	if err != nil {
		return nil, err
	}
	own, _, err := s.ownDevice(ctx, cr)
	if err != nil {
		return nil, err
	}
	if own == nil {
		return nil, errUnknownDevice()
	}
	// index is inclusive (Firefox asks for its last index + 1); absent,
	// from the start. A limit above ours, or 0, means as many as we give.
	index, err := queryInt(c, "index")
	if err != nil {
		return nil, err
	}
	limit, err := queryInt(c, "limit")
	if err != nil {
		return nil, err
	}
	if limit == 0 || limit > maxCommandsOut {
		limit = maxCommandsOut
	}
	cmds, err := s.store.DeviceCommands(ctx, cr.account.UID, own.ID, max(index-1, 0), int(limit)+1)
	if err != nil {
		return nil, errServer(err)
	}
	last := len(cmds) <= int(limit)
	if !last {
		cmds = cmds[:limit]
	}
	msgs := make([]map[string]any, 0, len(cmds))
	next := max(index-1, 0)
	for _, m := range cmds {
		payload := json.RawMessage(m.Payload)
		if !json.Valid(payload) {
			payload = json.RawMessage("{}")
		}
		msgs = append(msgs, map[string]any{"index": m.Index, "data": map[string]any{
			"command": m.Command, "payload": payload, "sender": m.Sender}})
		next = m.Index
	}
	return s.jsonOK(c, map[string]any{"index": next, "last": last, "messages": msgs})
}

// queryInt reads an optional non-negative integer query parameter; absent
// is 0, anything else is a 400/107 naming it.
func queryInt(c *call, name string) (int64, error) {
	v := c.query.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, newError(http.StatusBadRequest, errnoInvalidParameter, "Invalid parameter in request query: "+name)
	}
	return n, nil
}

// errQueueFull answers a send to a device whose queue is at its bound. It
// carries no retryAfter: Firefox would then refuse every FxA call for
// that long, not just the sends.
func errQueueFull() *apiError {
	return newError(http.StatusTooManyRequests, errnoTooManyRequests,
		"Too many commands are waiting for this device: it has to fetch them (Sync Now) or they expire first")
}

// invokeCommand is POST /v1/account/devices/invoke_command: queued in the
// database for the target (with a TTL) until it polls; never accepted and
// dropped. The payload is opaque here: the sender encrypted it to the keys
// the target published in its availableCommands, and only the target can
// read it. A full queue or an oversized payload is an error the sender
// sees.
func (s *Service) invokeCommand(ctx context.Context, c *call) (*handlers.Response, error) {
	cr, err := s.deviceAuth(ctx, c)
	if err != nil {
		return nil, err
	}
	var req struct {
		Command string          `json:"command"`
		Target  string          `json:"target"`
		Payload json.RawMessage `json:"payload"`
		TTL     int64           `json:"ttl"`
	}
	if err := decode(c, &req, false); err != nil {
		return nil, err
	}
	switch {
	case req.Command == "":
		return nil, errMissingParam("command")
	case req.Target == "":
		return nil, errMissingParam("target")
	case len(req.Payload) == 0 || string(req.Payload) == "null":
		return nil, errMissingParam("payload")
	case len(req.Payload) > maxCommandPayload:
		return nil, errInvalidParam("payload (too large)")
	}
	own, devs, err := s.ownDevice(ctx, cr)
	if err != nil {
		return nil, err
	}
	var target *db.Device
	for i := range devs {
		if devs[i].ID == req.Target {
			target = &devs[i]
		}
	}
	if target == nil {
		return nil, errUnknownDevice()
	}
	if _, ok := target.AvailableCommands[req.Command]; !ok {
		return nil, errInvalidParam("command (not available on the target device)")
	}
	ttl := commandTTL
	if req.TTL > 0 {
		ttl = min(time.Duration(min(req.TTL, 1<<31))*time.Second, maxCommandTTL)
	}
	sender := ""
	if own != nil {
		sender = own.ID
	}
	if _, err := s.store.PushDeviceCommand(ctx, db.DeviceCommand{
		TargetDeviceID: target.ID, UID: cr.account.UID, Command: req.Command,
		Payload: string(req.Payload), Sender: sender, Expires: c.start.Add(ttl).UnixMilli(),
	}, maxQueuedCommands); errors.Is(err, db.ErrQueueFull) {
		return nil, errQueueFull()
	} else if err != nil {
		return nil, errServer(err)
	}
	return s.jsonOK(c, map[string]any{"enqueued": true, "notified": false})
}

// notify is POST /v1/account/devices/notify: there is no push service, so
// nothing to do, but Firefox must see success.
func (s *Service) notify(ctx context.Context, c *call) (*handlers.Response, error) {
	if _, err := s.sessionAuth(ctx, c); err != nil {
		return nil, err
	}
	return s.jsonOK(c, empty)
}

// deviceDestroy is POST /v1/account/device/destroy: the device goes, and
// with it its credential (a session's sign-out; a refresh token and its
// access tokens on mobile).
func (s *Service) deviceDestroy(ctx context.Context, c *call) (*handlers.Response, error) {
	cr, err := s.deviceAuth(ctx, c)
	if err != nil {
		return nil, err
	}
	var req struct {
		ID string `json:"id"`
	}
	if err := decode(c, &req, false); err != nil {
		return nil, err
	}
	if req.ID == "" {
		return nil, errMissingParam("id")
	}
	_, devs, err := s.ownDevice(ctx, cr)
	if err != nil {
		return nil, err
	}
	var target *db.Device
	for i := range devs {
		if devs[i].ID == req.ID {
			target = &devs[i]
		}
	}
	if target == nil {
		return nil, errUnknownDevice()
	}
	if err := s.store.DeleteDevice(ctx, cr.account.UID, target.ID); err != nil && !errors.Is(err, db.ErrNotFound) {
		return nil, errServer(err)
	}
	// The credential may be a session or a refresh token; deleting the
	// other kind finds nothing.
	for _, del := range []func(context.Context, []byte) error{s.store.DeleteRefreshToken, s.store.DeleteAuthToken} {
		if err := del(ctx, target.CredentialHash); err != nil && !errors.Is(err, db.ErrNotFound) {
			return nil, errServer(err)
		}
	}
	return s.jsonOK(c, empty)
}
