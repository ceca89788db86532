package accounts

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"syncserver/handlers"
)

type handlerFunc func(s *Service, ctx context.Context, c *call) (*handlers.Response, error)

type route struct {
	method string
	handle handlerFunc
}

// routes are the JSON routes, at the root of the accounts origin: the auth
// server (/v1/…), the OAuth server (also /v1/…, as oauth_server_base_url
// is the origin) and the profile server (/profile/v1/…).
var routes = map[string]route{
	"/.well-known/fxa-client-configuration": {http.MethodGet, (*Service).clientConfiguration},
	"/.well-known/openid-configuration":     {http.MethodGet, (*Service).openidConfiguration},

	// Sign-in (spec §3.2) and the page-only extras.
	"/v1/account/login":              {http.MethodPost, (*Service).login},
	"/v1/account/create":             {http.MethodPost, (*Service).create},
	"/v1/account/credentials/status": {http.MethodPost, (*Service).credentialsStatus},
	"/v1/account/keys":               {http.MethodGet, (*Service).keys},
	"/v1/account/scoped-key-data":    {http.MethodPost, (*Service).scopedKeyData},
	"/v1/password/change":            {http.MethodPost, (*Service).passwordChange},
	"/v1/account/destroy":            {http.MethodPost, (*Service).accountDestroy},
	"/v1/oauth/authorization":        {http.MethodPost, (*Service).authorization},
	"/v1/oauth/token":                {http.MethodPost, (*Service).token},
	"/v1/oauth/destroy":              {http.MethodPost, (*Service).destroy},

	// Quiet running (§3.3).
	"/v1/account/device":                 {http.MethodPost, (*Service).device},
	"/v1/account/devices":                {http.MethodGet, (*Service).devices},
	"/v1/account/attached_clients":       {http.MethodGet, (*Service).attachedClients},
	"/v1/account/device/commands":        {http.MethodGet, (*Service).deviceCommands},
	"/v1/account/devices/invoke_command": {http.MethodPost, (*Service).invokeCommand},
	"/v1/account/devices/notify":         {http.MethodPost, (*Service).notify},
	"/v1/account/device/destroy":         {http.MethodPost, (*Service).deviceDestroy},
	"/v1/session/status":                 {http.MethodGet, (*Service).sessionStatus},
	"/v1/session/destroy":                {http.MethodPost, (*Service).sessionDestroy},
	"/v1/session/duplicate":              {http.MethodPost, (*Service).sessionDuplicate},
	"/v1/account/status":                 {http.MethodGet, (*Service).accountStatus},
	"/v1/recovery_email/status":          {http.MethodGet, (*Service).recoveryEmailStatus},
	"/profile/v1/profile":                {http.MethodGet, (*Service).profile},

	// The OAuth server's own routes (§3.4).
	"/v1/destroy":    {http.MethodPost, (*Service).destroy},
	"/v1/introspect": {http.MethodPost, (*Service).introspect},
	"/v1/jwks":       {http.MethodGet, (*Service).jwks},
	"/v1/verify":     {http.MethodPost, (*Service).verify},
	"/v1/token":      {http.MethodPost, (*Service).token},
}

// route finds the JSON route of path, or reports that path is a page
// asset.
func (s *Service) route(path string) (*route, bool) {
	if rt, ok := routes[path]; ok {
		return &rt, false
	}
	if _, _, ok := s.assets(path); ok {
		return nil, true
	}
	return nil, false
}

// jsonOK answers 200 with v as JSON.
func (s *Service) jsonOK(c *call, v any) (*handlers.Response, error) {
	return s.jsonStatus(c, http.StatusOK, v)
}

func (s *Service) jsonStatus(c *call, status int, v any) (*handlers.Response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, errServer(err)
	}
	r := &handlers.Response{Status: status, Header: make(http.Header), Body: b}
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	s.commonHeaders(r.Header, c.start)
	return r, nil
}

// empty is the {} body of routes that answer nothing: Firefox JSON-parses
// every answer.
var empty = struct{}{}

// decode reads the JSON body into v. An empty body is an empty object.
// OAuth routes also take form-encoded bodies (form true).
func decode(c *call, v any, form bool) error {
	ct := strings.ToLower(c.req.Header.Get("Content-Type"))
	if form && strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		vals, err := url.ParseQuery(string(c.body))
		if err != nil {
			return errInvalidJSON()
		}
		m := make(map[string]any, len(vals))
		for k, vs := range vals {
			if len(vs) > 0 {
				m[k] = vs[0]
			}
		}
		b, _ := json.Marshal(m)
		if err := json.Unmarshal(b, v); err != nil {
			return errInvalidJSON()
		}
		return nil
	}
	body := c.body
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errInvalidJSON()
	}
	return nil
}
