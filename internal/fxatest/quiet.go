package fxatest

import (
	"encoding/json"
	"net/http"
	"strings"
)

// device is a registered Firefox device of an account.
type device struct {
	ID        string
	Name      string
	Type      string
	Session   string // Hawk id of the session that registered it
	CreatedAt int64
}

// The endpoints below keep a real Firefox quiet during a test
// (observed with Debian's firefox-esr): without them it retries them dozens of times.

// serveDeviceRegister is POST /v1/account/device (register or update).
func (s *Server) serveDeviceRegister(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		Type string `json:"type"`
	}
	json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req) // lenient
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accountForLocked(r)
	if a == nil {
		writeError(w, http.StatusUnauthorized, 110, "invalid authentication token")
		return
	}
	session := hawkID(r)
	list := s.devices[a.UID]
	var d *device
	for i := range list {
		if (req.ID != "" && list[i].ID == req.ID) || (req.ID == "" && session != "" && list[i].Session == session) {
			d = &list[i]
		}
	}
	if d == nil {
		id := req.ID
		if id == "" {
			id = randomHex(16)
		}
		list = append(list, device{ID: id, Session: session, CreatedAt: s.now().UnixMilli(), Type: "desktop"})
		d = &list[len(list)-1]
	}
	if req.Name != "" {
		d.Name = req.Name
	}
	if req.Type != "" {
		d.Type = req.Type
	}
	s.devices[a.UID] = list
	writeJSON(w, http.StatusOK, map[string]any{"id": d.ID, "createdAt": d.CreatedAt, "name": d.Name, "type": d.Type})
}

// serveDevices is GET /v1/account/devices.
func (s *Server) serveDevices(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accountForLocked(r)
	if a == nil {
		writeError(w, http.StatusUnauthorized, 110, "invalid authentication token")
		return
	}
	session := hawkID(r)
	out := []any{}
	for _, d := range s.devices[a.UID] {
		out = append(out, map[string]any{
			"id":                  d.ID,
			"name":                d.Name,
			"type":                d.Type,
			"isCurrentDevice":     session != "" && d.Session == session,
			"lastAccessTime":      s.now().UnixMilli(),
			"pushCallback":        nil,
			"pushPublicKey":       nil,
			"pushAuthKey":         nil,
			"pushEndpointExpired": false,
			"availableCommands":   map[string]any{},
			"location":            map[string]any{},
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// serveProfile is GET /profile/v1/profile with a Bearer access token.
func (s *Server) serveProfile(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accountForLocked(r)
	if a == nil {
		writeError(w, http.StatusUnauthorized, 110, "invalid authentication token")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"uid":                     a.UID,
		"email":                   a.Email,
		"locale":                  "en-US",
		"displayName":             nil,
		"avatar":                  "",
		"avatarDefault":           true,
		"amrValues":               []string{"pwd", "email"},
		"twoFactorAuthentication": false,
	})
}

// hawkID is the id of a Hawk Authorization header, or "".
func hawkID(r *http.Request) string {
	authz := r.Header.Get("Authorization")
	if !strings.HasPrefix(strings.ToLower(authz), "hawk ") {
		return ""
	}
	if m := hawkIDRE.FindStringSubmatch(authz); m != nil {
		return m[1]
	}
	return ""
}
