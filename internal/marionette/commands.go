package marionette

import (
	"context"
	"encoding/json"
	"fmt"
)

// Contexts of SetContext: "content" runs scripts in the web page, "chrome"
// in the browser itself with full privileges (needs Firefox started with
// --remote-allow-system-access).
const (
	ContextContent = "content"
	ContextChrome  = "chrome"
)

// Session is what WebDriver:NewSession answers.
type Session struct {
	ID           string         `json:"sessionId"`
	Capabilities map[string]any `json:"capabilities"`
}

// NewSession starts the WebDriver session every other command needs.
func (c *Client) NewSession(ctx context.Context) (Session, error) {
	var s Session
	err := c.Send(ctx, "WebDriver:NewSession", map[string]any{"capabilities": map[string]any{}}, &s)
	return s, err
}

// SetContext switches where scripts run: ContextContent or ContextChrome.
func (c *Client) SetContext(ctx context.Context, context string) error {
	return c.Send(ctx, "Marionette:SetContext", map[string]any{"value": context}, nil)
}

// Timeouts are WebDriver's session timeouts in milliseconds; zero fields are
// left unchanged.
type Timeouts struct {
	Script   int64 `json:"script,omitempty"`
	PageLoad int64 `json:"pageLoad,omitempty"`
	Implicit int64 `json:"implicit,omitempty"`
}

// SetTimeouts sets the session timeouts; Script bounds ExecuteScript
// (Firefox's default is 30 s).
func (c *Client) SetTimeouts(ctx context.Context, t Timeouts) error {
	return c.Send(ctx, "WebDriver:SetTimeouts", t, nil)
}

// ExecuteScript runs script as the body of a function whose arguments
// object holds args, and decodes what it returns into result (nil
// discards it). A returned Promise is awaited. args must encode as JSON.
func (c *Client) ExecuteScript(ctx context.Context, script string, args []any, result any) error {
	if args == nil {
		args = []any{}
	}
	var reply struct {
		Value json.RawMessage `json:"value"`
	}
	if err := c.Send(ctx, "WebDriver:ExecuteScript", map[string]any{"script": script, "args": args}, &reply); err != nil {
		return err
	}
	if result == nil || len(reply.Value) == 0 {
		return nil
	}
	if err := json.Unmarshal(reply.Value, result); err != nil {
		return fmt.Errorf("marionette: decoding script result %.200q: %w", reply.Value, err)
	}
	return nil
}

// Quit asks Firefox to quit at once (eForceQuit, no unload prompts) and
// closes the connection. Firefox exits shortly after it answers.
func (c *Client) Quit(ctx context.Context) error {
	err := c.Send(ctx, "Marionette:Quit", map[string]any{"flags": []string{"eForceQuit"}}, nil)
	c.Close()
	return err
}
